"""The chat page served at `/`: one self-contained HTML file (no external assets). It streams from
`/v1/chat/completions` and shows the reasoning in a collapsible block above the answer."""

PAGE_HTML = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>reasonrl chat</title>
<style>
  :root { --bg:#f7f7f8; --card:#fff; --ink:#1d1d1f; --mute:#6b6b76; --line:#e3e3e8; --accent:#3358d4; }
  * { box-sizing: border-box; }
  body { margin:0; font:15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; background:var(--bg);
         color:var(--ink); display:flex; flex-direction:column; height:100vh; }
  header { display:flex; gap:12px; align-items:center; padding:10px 18px; border-bottom:1px solid var(--line);
           background:var(--card); flex-wrap:wrap; }
  header h1 { font-size:16px; margin:0 8px 0 0; }
  header .model { color:var(--mute); font-size:13px; margin-right:auto; }
  header label { font-size:13px; color:var(--mute); }
  header input { width:70px; padding:3px 6px; border:1px solid var(--line); border-radius:6px; }
  header input#key { width:140px; }
  #log { flex:1; overflow-y:auto; padding:20px 18px; max-width:860px; width:100%; margin:0 auto; }
  .msg { margin:0 0 16px; }
  .user .bubble { background:var(--accent); color:#fff; margin-left:auto; max-width:75%; width:fit-content; }
  .bubble { padding:10px 14px; border-radius:12px; background:var(--card); border:1px solid var(--line);
            white-space:pre-wrap; word-wrap:break-word; }
  .user .bubble { border:none; }
  details.reasoning { margin:0 0 6px; border-left:3px solid var(--line); padding:2px 10px; color:var(--mute); }
  details.reasoning summary { cursor:pointer; font-size:13px; }
  .reasoning-text { white-space:pre-wrap; font-size:14px; margin-top:4px; }
  .meta { font-size:12px; color:var(--mute); margin-top:4px; }
  .error { color:#b00020; }
  form { display:flex; gap:8px; padding:12px 18px; border-top:1px solid var(--line); background:var(--card);
         max-width:860px; width:100%; margin:0 auto; }
  textarea { flex:1; resize:none; height:48px; padding:10px; border:1px solid var(--line); border-radius:10px;
             font:inherit; }
  button { padding:0 18px; border:none; border-radius:10px; background:var(--accent); color:#fff; font:inherit;
           cursor:pointer; }
  button.secondary { background:#e9e9ef; color:var(--ink); padding:4px 12px; }
</style>
</head>
<body>
<header>
  <h1>reasonrl chat</h1><span class="model" id="model">connecting...</span>
  <label>temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.6"></label>
  <label>max tokens <input id="max_tokens" type="number" min="1" step="1" value=""></label>
  <label>API key <input id="key" type="password" placeholder="(none)"></label>
  <button class="secondary" id="reset" type="button">New chat</button>
</header>
<main id="log"></main>
<form id="form">
  <textarea id="input" placeholder="Ask something (Enter sends, Shift+Enter adds a line)"></textarea>
  <button id="send" type="submit">Send</button>
</form>
<script>
const $ = (id) => document.getElementById(id);
const history = [];
let model = null, ctrl = null;
for (const id of ["temperature", "max_tokens", "key"]) {
  const saved = localStorage.getItem("reasonrl." + id);
  if (saved !== null) $(id).value = saved;
  $(id).addEventListener("change", () => localStorage.setItem("reasonrl." + id, $(id).value));
}
function headers() {
  const h = {"Content-Type": "application/json"};
  if ($("key").value) h["Authorization"] = "Bearer " + $("key").value;
  return h;
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function scroll() { $("log").scrollTop = $("log").scrollHeight; }
async function loadModel() {
  try {
    const r = await fetch("/v1/models", {headers: headers()});
    const j = await r.json();
    if (!r.ok) { $("model").textContent = j.error ? j.error.message : r.statusText; return; }
    model = j.data[0].id;
    $("model").textContent = model + " · weights v" + j.data[0].weight_version + " · context " + j.data[0].max_model_len;
  } catch (e) { $("model").textContent = "server unreachable"; }
}
function addAssistant() {
  const box = el("div", "msg assistant");
  const details = el("details", "reasoning");
  details.open = true; details.hidden = true;
  details.append(el("summary", "", "Reasoning"));
  const rtext = el("div", "reasoning-text");
  details.append(rtext);
  const answer = el("div", "bubble answer");
  const meta = el("div", "meta");
  box.append(details, answer, meta);
  $("log").append(box);
  return {details, rtext, answer, meta};
}
function handle(obj, ui, st) {
  if (obj.error) throw new Error(obj.error.message);
  if (obj.usage) st.tokens = obj.usage.completion_tokens;
  for (const c of obj.choices || []) {
    const d = c.delta || {};
    if (d.reasoning_content) { ui.details.hidden = false; ui.rtext.textContent += d.reasoning_content; }
    if (d.content) {
      if (!ui.answer.textContent && !ui.rtext.textContent) ui.details.hidden = true;
      if (!ui.answer.textContent) ui.details.open = false;
      ui.answer.textContent += d.content;
    }
    if (c.finish_reason) st.finish = c.finish_reason;
  }
}
async function send(text) {
  history.push({role: "user", content: text});
  const u = el("div", "msg user"); u.append(el("div", "bubble", text)); $("log").append(u);
  const ui = addAssistant(), st = {finish: null, tokens: null}, t0 = performance.now();
  ui.answer.textContent = "";
  const body = {messages: history, stream: true, stream_options: {include_usage: true},
                temperature: parseFloat($("temperature").value || "1")};
  if (model) body.model = model;
  if ($("max_tokens").value) body.max_tokens = parseInt($("max_tokens").value);
  ctrl = new AbortController(); $("send").textContent = "Stop"; scroll();
  try {
    const r = await fetch("/v1/chat/completions", {method: "POST", headers: headers(), body: JSON.stringify(body),
                                                  signal: ctrl.signal});
    if (!r.ok) { const j = await r.json(); throw new Error(j.error ? j.error.message : r.statusText); }
    const reader = r.body.getReader(), dec = new TextDecoder();
    let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += dec.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const line = buf.slice(0, i); buf = buf.slice(i + 2);
        if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
        handle(JSON.parse(line.slice(6)), ui, st);
        scroll();
      }
    }
    history.push({role: "assistant", content: ui.answer.textContent});
    ui.meta.textContent = "finish: " + st.finish + (st.tokens !== null ? " · " + st.tokens + " tokens" : "") +
                          " · " + ((performance.now() - t0) / 1000).toFixed(2) + " s";
  } catch (e) {
    history.pop();
    ui.meta.className = "meta error";
    ui.meta.textContent = e.name === "AbortError" ? "stopped" : "error: " + e.message;
  } finally {
    ctrl = null; $("send").textContent = "Send"; scroll();
  }
}
$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (ctrl) { ctrl.abort(); return; }
  const text = $("input").value.trim();
  if (!text) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("form").requestSubmit(); }
});
$("reset").addEventListener("click", () => { history.length = 0; $("log").textContent = ""; });
$("key").addEventListener("change", loadModel);
loadModel();
</script>
</body>
</html>
"""
