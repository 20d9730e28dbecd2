// Handler of Relay's Node.js runner function (nodejs22.x managed runtime).
//
// It starts the relay-runner binary shipped beside it once per execution
// environment and hands it each invocation as one JSON line; the binary
// runs the script task attempt with this runtime's node and answers with
// one line. No dependencies.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const bin = process.env.RELAY_RUNNER_BIN || join(dirname(fileURLToPath(import.meta.url)), "relay-runner");

class RunnerError extends Error {
  constructor(message) {
    super(message);
    this.name = "RunnerError";
  }
}

let child;
let waiting = []; // resolvers of the answers, in order

function start() {
  child = spawn(bin, [], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  lines.on("line", (line) => {
    const next = waiting.shift();
    if (next) next.resolve(line);
  });
  child.on("exit", (code) => {
    const pending = waiting;
    waiting = [];
    child = undefined;
    for (const p of pending) p.reject(new RunnerError(`relay-runner exited (status ${code})`));
  });
}

start();

export const handler = async (event, context) => {
  if (!child) start();
  const deadlineMs = Date.now() + context.getRemainingTimeInMillis();
  const line = await new Promise((resolve, reject) => {
    waiting.push({ resolve, reject });
    child.stdin.write(JSON.stringify({ event, deadlineMs }) + "\n");
  });
  const answer = JSON.parse(line);
  if ("result" in answer) return answer.result;
  throw new RunnerError(`${answer.errorType}: ${answer.errorMessage}`);
};
