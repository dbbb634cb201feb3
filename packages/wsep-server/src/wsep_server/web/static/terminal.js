// The web terminal: xterm.js sized to the window, one TTY process per session id.
//
// Query parameters: `command` (default "bash"), repeated `arg` and `env` (NAME=value);
// `session` (a reattachable session id; one is made up and put in the address when
// missing, so a reload reattaches); `token` and `token_in` ("subprotocol" or "query");
// `flow_window` (bytes of output in flight, 0 for no flow control).
// Output is written to the terminal as it parses it: the bytes are acknowledged to the
// server (flow control) only when xterm.js has processed them, so a flood such as `yes`
// never queues more than one window ahead of the screen and Ctrl-C acts at once.

import { FitAddon } from "./vendor/addon-fit.mjs";
import { Terminal } from "./vendor/xterm.mjs";
import { connect, WsepError } from "./wsep.js";

const params = new URLSearchParams(location.search);
const statusBar = document.getElementById("status");
const wsepPath = document.querySelector('meta[name="wsep-path"]')?.content || "/";
const command = params.get("command") || "bash";
const args = params.getAll("arg");
const env = ["TERM=xterm-256color", "COLORTERM=truecolor", ...params.getAll("env")];
// The token leaves the address bar (history, Referer) for this tab's sessionStorage.
const token = params.get("token") || sessionStorage.getItem("wsep.token") || undefined;
if (params.has("token")) sessionStorage.setItem("wsep.token", params.get("token"));
const tokenIn = params.get("token_in") || "subprotocol";
const flowWindow = params.has("flow_window") ? Number(params.get("flow_window")) : undefined;

const term = new Terminal({
  cursorBlink: true,
  scrollback: 5000,
  fontFamily: "DejaVu Sans Mono, Liberation Mono, monospace",
  fontSize: 14,
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open(document.getElementById("terminal"));
fit.fit();
term.focus();

const app = {
  term,
  fit,
  proc: null,
  sessionId: params.get("session") || newSessionId(),
  state: "connecting",
  exitStatus: null,
  error: null,
  connections: 0,
};
window.wsepApp = app;
rememberSession();

new ResizeObserver(() => fit.fit()).observe(document.getElementById("terminal"));
window.addEventListener("resize", () => fit.fit());
term.onResize(({ rows, cols }) => {
  if (app.proc?.running) app.proc.resize(rows, cols);
});
term.onData((data) => {
  if (app.proc?.running) app.proc.write(data);
  else if (app.state === "exited" && data === "\r") newSession();
});
term.onBinary((data) => {
  if (app.proc?.running) app.proc.write(Uint8Array.from(data, (c) => c.charCodeAt(0)));
});
term.onTitleChange((title) => {
  document.title = title || "wsep terminal";
});

function newSessionId() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) =>
    b.toString(16).padStart(2, "0"),
  ).join("");
}

function rememberSession() {
  const url = new URL(location.href);
  url.searchParams.set("session", app.sessionId);
  url.searchParams.delete("token");
  history.replaceState(null, "", url);
}

function setStatus(text, kind = "") {
  statusBar.textContent = text;
  statusBar.className = kind;
}

function describeExit(status) {
  if (status.signal) return `terminated by ${status.signal}${status.coreDumped ? " (core dumped)" : ""}`;
  if (status.error) return `exited: ${status.error}`;
  return `exited with status ${status.exitCode}`;
}

// Write to the terminal; the promise settles once xterm.js has parsed the data. While
// one write is being parsed, later output is collected and written as one piece: many
// small writes (a PTY gives at most 4 KiB a read) would each wait for a timer tick.
let pendingText = [];
let pendingDone = [];
let writing = false;

function show(text) {
  return new Promise((resolve) => {
    pendingText.push(text);
    pendingDone.push(resolve);
    if (!writing) flushWrites();
  });
}

function flushWrites() {
  if (pendingText.length === 0) {
    writing = false;
    return;
  }
  writing = true;
  const text = pendingText.join("");
  const done = pendingDone;
  pendingText = [];
  pendingDone = [];
  term.write(text, () => {
    for (const resolve of done) resolve();
    flushWrites();
  });
}

let retryDelay = 250;

async function run() {
  app.state = "connecting";
  setStatus(`connecting (session ${app.sessionId})…`);
  let proc;
  try {
    const conn = await connect(new URL(wsepPath, location.href), { token, tokenIn });
    if (app.connections > 0) term.reset(); // a reattached session repaints its screen
    app.connections += 1;
    proc = await conn.start(
      {
        command,
        args,
        tty: true,
        rows: term.rows,
        cols: term.cols,
        env,
      },
      { id: app.sessionId, encoding: "utf-8", flowWindow, onStdout: show, onStderr: show },
    );
  } catch (err) {
    return failed(err);
  }
  app.proc = proc;
  app.state = "running";
  retryDelay = 250;
  setStatus(`running ${command} (pid ${proc.pid}, protocol v${proc.version}, session ${app.sessionId})`);
  // The window may have changed while connecting.
  fit.fit();
  if (term.rows && term.cols) proc.resize(term.rows, term.cols);
  let status;
  try {
    status = await proc.exited;
  } catch (err) {
    return failed(err);
  }
  await show(""); // let the last output render first
  app.exitStatus = status;
  app.state = "exited";
  const text = describeExit(status);
  setStatus(`${text} — press Enter for a new session`, "exited");
  term.write(`\r\n\x1b[2m[${text}]\x1b[0m\r\n`);
}

function failed(err) {
  app.error = err;
  const lost = err instanceof WsepError && (err.code === "connection_closed" || err.code === "connect_failed");
  if (!lost) {
    app.state = "failed";
    setStatus(`failed: ${err.message}`, "failed");
    return;
  }
  app.state = "disconnected";
  const delay = retryDelay;
  retryDelay = Math.min(retryDelay * 2, 5000);
  setStatus(`disconnected (${err.message}); reconnecting in ${(delay / 1000).toFixed(1)} s…`, "failed");
  setTimeout(run, delay);
}

function newSession() {
  app.sessionId = newSessionId();
  app.exitStatus = null;
  rememberSession();
  term.reset();
  run();
}

run();
