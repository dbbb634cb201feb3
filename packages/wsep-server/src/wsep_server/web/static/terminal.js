// The web terminal: xterm.js sized to the window, one TTY process per session id.
//
// Query parameters: `command` (default: the server's --web-command), repeated `arg` and
// `env` (NAME=value); `session` (a reattachable session id; one is made up and put in the
// address when missing, so a reload reattaches); `observe=1` (attach read-only to an
// existing session); `token` and `token_in` ("subprotocol" or "query"); `flow_window`
// (bytes of output in flight, 0 for no flow control); `font_size`, `font_family`,
// `theme` ("dark" or "light"; defaults from the server's --web-* flags).
//
// A command, arguments, environment or token from the address never start anything by
// themselves: a link from anywhere can carry them. The page shows what the link asks to
// run and waits for the Run button; once confirmed, this tab remembers it (a reload
// reattaches without asking). Reattaching to a session that already runs needs no
// confirmation: it starts nothing. Without those parameters the page runs the server's
// default command, as ttyd does; framing is forbidden by the server's headers, so a
// page elsewhere can neither show that terminal nor type into it.
//
// Before each connection the page asks POST api/check, which answers through the same
// host, origin and token checks as the WebSocket: a browser hides the HTTP status of a
// refused handshake, so this is how the page can say "token refused" or "origin not
// allowed" (and prompt for a token) instead of retrying forever.
//
// Output is written to the terminal as it parses it: the bytes are acknowledged to the
// server (flow control) only when xterm.js has processed them, so a flood such as `yes`
// never queues more than one window ahead of the screen and Ctrl-C acts at once.

import { FitAddon } from "./vendor/addon-fit.mjs";
import { Terminal } from "./vendor/xterm.mjs";
import {
  describeCheck,
  describeError,
  describeExit,
  TRANSIENT_CODES,
  worthRetrying,
} from "./messages.js";
import { checkServer, connect, WsepError } from "./wsep.js";

const params = new URLSearchParams(location.search);
const statusText = document.getElementById("status-text");
const statusBar = document.getElementById("status");
const wsepPath = document.querySelector('meta[name="wsep-path"]')?.content || "/";
const defaults = JSON.parse(document.querySelector('meta[name="wsep-options"]')?.content || "{}");
const RUN_PARAMS = ["command", "arg", "env"];
// A token in the address chooses whom the command runs as (a link can carry someone
// else's token, who could then watch the session): it needs the same confirmation.
const fromAddress = RUN_PARAMS.some((name) => params.has(name)) || params.has("token");
const spec = {
  command: params.get("command") || defaults.command || "bash",
  args: params.getAll("arg"),
  env: params.getAll("env"),
};
const env = ["TERM=xterm-256color", "COLORTERM=truecolor", ...spec.env];
const readOnly = ["1", "true", "yes"].includes(params.get("observe") || "");
// The token leaves the address bar (history, Referer) for this tab's sessionStorage.
if (params.has("token")) sessionStorage.setItem("wsep.token", params.get("token"));
let token = sessionStorage.getItem("wsep.token") || undefined;
const tokenIn = params.get("token_in") || "subprotocol";
const flowWindow = params.has("flow_window") ? Number(params.get("flow_window")) : undefined;

const THEMES = {
  dark: { background: "#000000", foreground: "#d0d0d0", cursor: "#d0d0d0" },
  light: {
    background: "#ffffff",
    foreground: "#1e1e1e",
    cursor: "#1e1e1e",
    selectionBackground: "#b5d5ff",
  },
};
const themeName = THEMES[params.get("theme")] ? params.get("theme") : defaults.theme || "dark";
document.documentElement.dataset.theme = themeName;
const fontSize = clampInt(params.get("font_size"), 6, 72, defaults.font_size || 14);

const term = new Terminal({
  cursorBlink: true,
  scrollback: 5000,
  fontFamily: params.get("font_family") || defaults.font_family || "monospace",
  fontSize,
  // The DOM renderer clips glyphs to the cell: at line height 1.0 the underscore of
  // DejaVu Sans Mono falls below a 14 px font's cell and disappears.
  lineHeight: 1.2,
  theme: THEMES[themeName],
  disableStdin: readOnly,
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
  message: "",
  exitStatus: null,
  error: null,
  check: null,
  connections: 0,
  attachedOnce: false,
  readOnly,
  retryAt: 0,
};
window.wsepApp = app;
rememberSession();
setTitle("");

new ResizeObserver(() => fit.fit()).observe(document.getElementById("terminal"));
window.addEventListener("resize", () => fit.fit());
term.onResize(({ rows, cols }) => {
  if (app.proc?.running) app.proc.resize(rows, cols);
});
term.onData((data) => {
  if (app.proc?.running) app.proc.write(data);
  else if ((app.state === "exited" || app.state === "ended") && data === "\r") newSession();
});
term.onBinary((data) => {
  if (app.proc?.running) app.proc.write(Uint8Array.from(data, (c) => c.charCodeAt(0)));
});
term.onTitleChange((title) => setTitle(title));

function clampInt(text, min, max, fallback) {
  const n = Number.parseInt(text ?? "", 10);
  return Number.isFinite(n) ? Math.min(max, Math.max(min, n)) : fallback;
}

function setTitle(programTitle) {
  const host = app.check?.host || location.hostname;
  const what = [spec.command, ...spec.args].join(" ");
  document.title = programTitle ? `${programTitle} — ${host}` : `${what} — ${host}`;
}

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

// --- the status bar and the two prompts -------------------------------------------------

function setStatus(state, text, kind = "", action = null) {
  app.state = state;
  app.message = text;
  statusText.textContent = text;
  statusBar.className = kind;
  const button = document.getElementById("status-action");
  button.hidden = !action;
  if (action) {
    button.textContent = action.label;
    button.onclick = action.run;
  }
}

function showPanel(id) {
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== id;
}

const confirmKey = "wsep.confirmed";

function confirmation() {
  return JSON.stringify({ ...spec, identity: app.check?.identity ?? null });
}

function confirmed() {
  const list = JSON.parse(sessionStorage.getItem(confirmKey) || "[]");
  return list.includes(confirmation());
}

function rememberConfirmation() {
  const list = JSON.parse(sessionStorage.getItem(confirmKey) || "[]");
  list.push(confirmation());
  sessionStorage.setItem(confirmKey, JSON.stringify(list.slice(-20)));
}

function askToRun() {
  document.getElementById("confirm-command").textContent = [spec.command, ...spec.args]
    .map(quote)
    .join(" ");
  document.getElementById("confirm-env").textContent = spec.env.map(quote).join("\n");
  document.getElementById("confirm-env-block").hidden = spec.env.length === 0;
  const who = app.check?.identity;
  document.getElementById("confirm-identity").textContent = who ? `as ${who}` : "";
  showPanel("confirm");
  setStatus("confirm", "this link wants to run a command: check it, then press Run");
  document.getElementById("confirm-run").focus();
}

function quote(word) {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`;
}

document.getElementById("confirm-run").onclick = () => {
  rememberConfirmation();
  showPanel(null);
  term.focus();
  begin({ create: true });
};
document.getElementById("confirm-cancel").onclick = () => {
  showPanel(null);
  setStatus("cancelled", "nothing was run");
};

function askForToken(why) {
  showPanel("token-prompt");
  document.getElementById("token-why").textContent = why;
  setStatus("token", why, "failed");
  const input = document.getElementById("token-input");
  input.value = "";
  input.focus();
}

document.getElementById("token-form").onsubmit = (ev) => {
  ev.preventDefault();
  const value = document.getElementById("token-input").value.trim();
  if (!value) return;
  token = value;
  sessionStorage.setItem("wsep.token", value);
  showPanel(null);
  term.focus();
  begin();
};

// --- output -----------------------------------------------------------------------------

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

// --- connecting, reconnecting ----------------------------------------------------------

const RETRY_DELAYS = [1, 2, 4, 8, 15, 30];
let retries = 0;
let retryTimer = null;

function retryLater(why) {
  const delay = RETRY_DELAYS[Math.min(retries, RETRY_DELAYS.length - 1)];
  retries += 1;
  app.retryAt = Date.now() + delay * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((app.retryAt - Date.now()) / 1000));
    if (left <= 0) {
      retryTimer = null;
      begin();
      return;
    }
    setStatus("disconnected", `${why} — reconnecting in ${left} s`, "failed", {
      label: "Retry now",
      run: () => {
        clearTimeout(retryTimer);
        retryTimer = null;
        begin();
      },
    });
    retryTimer = setTimeout(tick, Math.min(1000, app.retryAt - Date.now() + 5));
  };
  tick();
}

/**
 * Check, connect and attach. `create`: start the command when the session does not
 * exist (else a missing session is reported as ended, or the link asks to confirm).
 */
async function begin({ create = false } = {}) {
  setStatus("connecting", `connecting (session ${app.sessionId})…`);
  const check = await checkServer("api/check", { token, tokenIn });
  app.check = check;
  if (!check.ok) {
    const why = describeCheck(check, Boolean(token));
    if (check.status === 401) return askForToken(why);
    if (worthRetrying(check)) return retryLater(why);
    app.error = new WsepError(why, { code: "refused" });
    return setStatus("failed", why, "failed");
  }
  setTitle("");
  const reconnecting = app.attachedOnce;
  const mayCreate = create || (!reconnecting && !readOnly && (!fromAddress || confirmed()));
  let conn;
  try {
    conn = await connect(new URL(wsepPath, location.href), { token, tokenIn });
  } catch (err) {
    app.error = err;
    return retryLater(describeError(err));
  }
  app.connections += 1;
  const options = {
    id: app.sessionId,
    encoding: "utf-8",
    flowWindow,
    onStdout: show,
    onStderr: show,
    rows: term.rows,
    cols: term.cols,
    readOnly,
  };
  const command = { command: spec.command, args: spec.args, tty: true, rows: term.rows, cols: term.cols, env };
  let proc;
  try {
    if (conn.version >= 2) {
      proc = await conn.attach(app.sessionId, { ...options, command: mayCreate ? command : null });
    } else if (mayCreate || reconnecting) {
      proc = await conn.start(command, options); // v1: start with an id creates or reattaches
    } else {
      conn.close();
      return askToRun();
    }
  } catch (err) {
    return failed(err, { mayCreate });
  }
  retries = 0;
  if (app.attachedOnce || proc.attached?.created === false) term.reset(); // the redraw repaints
  app.attachedOnce = true;
  app.proc = proc;
  app.error = null;
  const who = check.identity ? ` as ${check.identity}` : "";
  const mode = readOnly ? "observing" : "running";
  setStatus("running", `${mode} ${spec.command}${who} (pid ${proc.pid}, protocol v${proc.version}, session ${app.sessionId})`);
  fit.fit(); // the window may have changed while connecting
  if (term.rows && term.cols && !readOnly) proc.resize(term.rows, term.cols);
  let status;
  try {
    status = await proc.exited;
  } catch (err) {
    return failed(err, { mayCreate: false });
  }
  await show(""); // let the last output render first
  app.exitStatus = status;
  const text = describeExit(status);
  setStatus("exited", `${text} — press Enter for a new session`, "exited", {
    label: "New session",
    run: newSession,
  });
  term.write(`\r\n\x1b[2m[${text}]\x1b[0m\r\n`);
}

function failed(err, { mayCreate }) {
  app.error = err;
  app.proc = null;
  if (err?.code === "no_such_session") {
    if (!mayCreate && !readOnly && !app.attachedOnce && fromAddress) return askToRun();
    const why = app.attachedOnce ? "the session has ended (the server may have restarted)" : "no such session";
    term.write(`\r\n\x1b[2m[${why}]\x1b[0m\r\n`);
    return setStatus("ended", `${why} — press Enter for a new session`, "failed", {
      label: "New session",
      run: newSession,
    });
  }
  const lost =
    err instanceof WsepError &&
    TRANSIENT_CODES.has(err.code) &&
    err.closeCode !== 1008 &&
    err.closeCode !== 1011;
  if (lost) return retryLater(describeError(err, spec.command));
  setStatus("failed", `failed: ${describeError(err, spec.command)}`, "failed");
}

function newSession() {
  if (readOnly) {
    const url = new URL(location.href);
    url.searchParams.delete("observe");
    url.searchParams.delete("session");
    location.assign(url);
    return;
  }
  app.sessionId = newSessionId();
  app.exitStatus = null;
  app.attachedOnce = false;
  rememberSession();
  term.reset();
  begin({ create: true });
}

begin();
