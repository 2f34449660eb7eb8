"""User-facing errors: the CLI prints `reasonrl: error: <message>` (one line) and exits 2."""


class UserError(ValueError):
    """Bad input from the user (config, file, model path, data row): the message names the file,
    line and field or key, and what is wrong."""
