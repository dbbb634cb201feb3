// The session list: the caller's reattachable sessions (the server scopes
// list_sessions to the identity the token authenticates), with attach, observe
// (read-only) and end. Uses the v2 management messages of wsep.js.

import { describeCheck, describeError } from "./messages.js";
import { checkServer, connect } from "./wsep.js";

const params = new URLSearchParams(location.search);
const wsepPath = document.querySelector('meta[name="wsep-path"]')?.content || "/";
if (params.has("token")) {
  sessionStorage.setItem("wsep.token", params.get("token"));
  const url = new URL(location.href);
  url.searchParams.delete("token");
  history.replaceState(null, "", url);
}
let token = sessionStorage.getItem("wsep.token") || undefined;
const tokenIn = params.get("token_in") || "subprotocol";
const message = document.getElementById("message");
const table = document.getElementById("sessions");
const tokenForm = document.getElementById("token-form");
const state = { sessions: null, state: "loading", identity: null };
window.wsepSessions = state;

function say(text, kind = "") {
  message.textContent = text;
  message.className = kind;
}

async function withConnection(work) {
  const conn = await connect(new URL(wsepPath, location.href), { token, tokenIn, versions: [2] });
  try {
    return await work(conn);
  } finally {
    conn.close();
  }
}

function terminalLink(s, observe) {
  const url = new URL("./", location.href);
  const [command, ...args] = s.argv;
  url.searchParams.set("session", s.id);
  if (observe) url.searchParams.set("observe", "1");
  if (command) url.searchParams.set("command", command);
  for (const arg of args) url.searchParams.append("arg", arg);
  return url.toString();
}

function cell(row, text) {
  const td = row.insertCell();
  td.textContent = text;
  return td;
}

function render(sessions) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const s of sessions) {
    const row = body.insertRow();
    row.dataset.id = s.id;
    cell(row, s.id);
    cell(row, s.argv.join(" "));
    cell(row, s.state === "exited" ? `exited (${s.exit_code})` : s.state);
    const observers = s.clients.filter((c) => c.read_only).length;
    cell(row, `${s.clients.length}${observers ? ` (${observers} observing)` : ""}`);
    cell(row, new Date(s.created * 1000).toLocaleString());
    const actions = row.insertCell();
    for (const [label, href] of [
      ["attach", terminalLink(s, false)],
      ["observe", terminalLink(s, true)],
    ]) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = label;
      a.className = label;
      actions.append(a, " ");
    }
    const end = document.createElement("button");
    end.type = "button";
    end.textContent = "end";
    end.className = "end";
    end.onclick = () => endSession(s.id);
    actions.append(end);
  }
  table.hidden = sessions.length === 0;
}

async function load() {
  state.state = "loading";
  say("loading…");
  const check = await checkServer("api/check", { token, tokenIn });
  if (!check.ok) {
    const why = describeCheck(check, Boolean(token));
    state.state = check.status === 401 ? "token" : "failed";
    tokenForm.hidden = check.status !== 401;
    table.hidden = true;
    return say(why, "failed");
  }
  tokenForm.hidden = true;
  state.identity = check.identity;
  document.getElementById("who").textContent = check.identity ? `of ${check.identity}` : "";
  document.title = `wsep sessions — ${check.host || location.hostname}`;
  try {
    const sessions = await withConnection((conn) => conn.listSessions());
    state.sessions = sessions;
    render(sessions);
    state.state = "ready";
    say(sessions.length ? "" : "no sessions");
  } catch (err) {
    state.state = "failed";
    say(describeError(err), "failed");
  }
}

async function endSession(id) {
  say(`ending ${id}…`);
  try {
    await withConnection((conn) => conn.endSession(id));
  } catch (err) {
    say(describeError(err), "failed");
    return;
  }
  await load();
}

document.getElementById("refresh").onclick = load;
tokenForm.onsubmit = (ev) => {
  ev.preventDefault();
  const value = document.getElementById("token-input").value.trim();
  if (!value) return;
  token = value;
  sessionStorage.setItem("wsep.token", value);
  load();
};

load();
