// Single-stream decode speed of llama.cpp (through node-llama-cpp, pinned in package.json) on one GGUF, for
// `seek bench llama`. Reads one JSON request from stdin: {"model": path, "prompt": [ids], "generate": n,
// "threads": [t, ...], "contextSize": c, "warmup": w}. For each thread count: a context of its own, an untimed
// warm-up of w tokens, then a greedy continuation of n tokens from the prompt. Decode time runs from the first
// generated token (prompt and first token are prefill) to the last, so tokens/s = (n - 1) / decodeSeconds, as
// SeekSharp's engine counts decode steps. End-of-generation tokens do not stop it (random weights emit them):
// every run decodes exactly n tokens. Prints one JSON line: {"runs": [{"threads", "tokens", "decodeSeconds",
// "tokensPerSecond"}], "system": llama.cpp's system info}.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: req.model, gpuLayers: 0 });

async function decode(seq, n) {
  let count = 0, t0 = 0, t1 = 0;
  for await (const _ of seq.evaluate(req.prompt, { temperature: 0, yieldEogToken: true })) {
    if (count === 0) t0 = performance.now();
    count++;
    if (count >= n) break;
  }
  t1 = performance.now();
  return { tokens: count, decodeSeconds: (t1 - t0) / 1000 };
}

const runs = [];
for (const threads of req.threads ?? [1]) {
  const context = await model.createContext({ contextSize: req.contextSize ?? 256, threads, batchSize: 512 });
  const seq = context.getSequence();
  if ((req.warmup ?? 8) > 0) { await decode(seq, req.warmup ?? 8); await seq.clearHistory(); }
  const r = await decode(seq, req.generate);
  runs.push({ threads, tokens: r.tokens, decodeSeconds: r.decodeSeconds, tokensPerSecond: r.tokens > 1 ? (r.tokens - 1) / r.decodeSeconds : 0 });
  await context.dispose();
}
await model.dispose();
process.stdout.write(JSON.stringify({ runs, system: llama.systemInfo }) + "\n");
