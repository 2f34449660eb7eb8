"""User-facing errors: the CLI prints `reasonrl: error: <message>` (one line) and exits 2.

The ground floor of the package: it imports nothing, so every layer (the math in reasonrl.algo
included) may raise these."""


class UserError(ValueError):
    """Bad input from the user (config, file, model path, data row): the message names the file,
    line and field or key, and what is wrong."""


class ConfigError(UserError):
    """A bad config: the message names the file or key and what is wrong, in one line."""
