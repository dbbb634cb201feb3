// Short human messages for what can go wrong, shared by the terminal and the session
// list. The server's own text goes to its log; the page says what happened in words a
// user can act on, and never shows an exception's text.

const START_FAILURES = {
  command_not_found: (cmd) => `command not found: ${cmd}`,
  permission_denied: (cmd) => `permission denied: ${cmd}`,
  no_such_directory: () => "the working directory does not exist",
  user_switch_denied: () => "not allowed to run as that user",
  invalid_command: () => "the command is not valid",
  start_failed: () => "the command could not be started (see the server log)",
};

const CODES = {
  no_such_session: "the session has ended",
  limit_exceeded: "a server limit was reached",
  policy_violation: "not allowed by the server's policy",
  protocol_violation: "the server refused a message (see the server log)",
  malformed_message: "the server refused a message (see the server log)",
  message_too_big: "a message was too big for the server",
  unsupported: "the server is too old for this (it does not speak protocol v2)",
  server_shutdown: "the server is shutting down",
};

/** Codes after which connecting again may work (the server comes back). */
export const TRANSIENT_CODES = new Set(["server_shutdown", "connection_closed", "connect_failed"]);

const CLOSE_CODES = {
  1001: "the server is shutting down",
  1006: "the connection was lost",
  1008: "refused by the server's policy",
  1009: "a message was too big for the server",
  1011: "server error (see the server log)",
  1012: "the server is restarting",
  1013: "the server is busy; try again later",
};

/** What a WsepError (or anything thrown) means, in a few words. */
export function describeError(err, command = "") {
  const code = err?.code ?? "";
  if (START_FAILURES[code]) return START_FAILURES[code](command);
  if (CODES[code]) return CODES[code];
  if (code === "connect_failed") return "could not connect";
  if (code === "connection_closed") return CLOSE_CODES[err.closeCode] ?? "the connection was lost";
  return "something went wrong (see the server log)";
}

/** What the preflight (checkServer) found, in a few words; "" when all is well. */
export function describeCheck(check, hadToken) {
  if (check.ok) return "";
  if (check.status === 0) return "server unreachable";
  if (check.status === 401) return hadToken ? "token refused" : "this server needs a token";
  if (check.status === 403) {
    if (/^origin not allowed/i.test(check.reason)) return "origin not allowed";
    if (/^host not allowed/i.test(check.reason)) return "host name not allowed";
    return "access denied";
  }
  if (check.status === 503) return "the server is shutting down";
  if (check.status === 429) return "too many attempts; wait a little";
  if (/^host/i.test(check.reason)) return "host name not allowed";
  return `refused by the server (HTTP ${check.status})`;
}

/** Whether trying again later may help (else the page stops and says why). */
export function worthRetrying(check) {
  return check.status === 0 || check.status === 503 || check.status === 429 || check.status >= 500;
}

export function describeExit(status) {
  if (status.signal) return `terminated by ${status.signal}${status.coreDumped ? " (core dumped)" : ""}`;
  if (status.error) return `exited: ${status.error}`;
  return `exited with status ${status.exitCode}`;
}
