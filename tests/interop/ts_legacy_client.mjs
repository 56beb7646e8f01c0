// Drive an HTTP+SSE (2024-11-05) MCP server with the official TypeScript SDK's
// deprecated SSEClientTransport.
//
//   node ts_legacy_client.mjs http://127.0.0.1:PORT/sse
//
// initialize -> tools/list -> countdown (progress) -> ask_name (elicitation)
// -> close; prints one JSON summary line on stdout and exits non-zero if any
// step threw (the summary then carries `error`).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { SSEClientTransport } from "@modelcontextprotocol/sdk/client/sse.js";
import { ElicitRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { trackLateProgress } from "./late_progress.mjs";

const url = process.argv[2];
if (!url) {
  console.error("usage: node ts_legacy_client.mjs URL");
  process.exit(2);
}

const summary = { url, steps: [] };
const client = new Client(
  { name: "streamcore-legacy-interop", version: "0.0.0" },
  { capabilities: { elicitation: { form: {} } } },
);
const elicitations = [];
client.setRequestHandler(ElicitRequestSchema, async (request) => {
  elicitations.push(request.params.message);
  return { action: "accept", content: { name: "Ada" } };
});
const late = trackLateProgress(client);
const transport = new SSEClientTransport(new URL(url));

try {
  await client.connect(transport);
  // The POST URL the server named in its `endpoint` event (private in the SDK; read for the test).
  summary.endpoint = transport._endpoint ? transport._endpoint.href : null;
  summary.serverInfo = client.getServerVersion() ?? null;
  summary.steps.push("initialize");

  const listed = await client.listTools();
  summary.tools = listed.tools.map((t) => t.name);
  summary.steps.push("tools/list");

  const progress = [];
  const countdown = await client.callTool(
    { name: "countdown", arguments: { n: 3, delay: 0.01 } },
    undefined,
    { onprogress: (p) => progress.push({ progress: p.progress, total: p.total ?? null, message: p.message ?? null }) },
  );
  summary.progress = progress;
  summary.lateProgress = late;
  summary.countdown = countdown.content?.[0]?.text ?? null;
  summary.steps.push("countdown");

  const greeted = await client.callTool({ name: "ask_name", arguments: {} });
  summary.elicitations = elicitations;
  summary.greeting = greeted.content?.[0]?.text ?? null;
  summary.steps.push("ask_name");

  await client.close();
  summary.steps.push("close");
} catch (err) {
  summary.error = String(err?.stack ?? err);
  process.exitCode = 1;
}
process.stdout.write(JSON.stringify(summary) + "\n");
