// Loads a GGUF with llama.cpp (through node-llama-cpp, pinned in package.json) and answers one request
// read as JSON from stdin: {"model": path, "tokenize": [strings], "prompt": [ids] (or "promptText":
// text, sent as BOS + its tokens, as `seek generate` does), "generate": n, "threads": t, "contextSize": c}.
// With "score": [ids], also the greedy next token after every prefix of ids (teacher forcing: one pass over the
// given ids, each position's argmax reported as "argmax", so one near-tie changes one entry, not all later ones).
// Decoding ends after n tokens or at an end-of-generation token (node-llama-cpp's evaluate stops there).
// Prints one JSON line: {"tokens": [[ids] per string], "generated": [ids], "text": the generated text,
// "prefillSeconds": s, "decodeSeconds": s}. Greedy (temperature 0), no repeat penalty, no BOS added:
// the caller passes the exact ids, so the comparison is about the model and the vocabulary only.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const req = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: req.model, gpuLayers: 0 });
const tokens = (req.tokenize ?? []).map(s => Array.from(model.tokenize(s, false)));

const prompt = req.prompt ?? (req.promptText !== undefined ? [model.tokens.bos, ...model.tokenize(req.promptText, false)] : []);
let generated = [], prefillSeconds = 0, decodeSeconds = 0;
if ((req.generate ?? 0) > 0) {
  const threads = req.threads ?? 1;
  const context = await model.createContext({ contextSize: req.contextSize ?? 256, threads, batchSize: 512 });
  const seq = context.getSequence();
  let t0 = performance.now(), t1 = t0;
  for await (const t of seq.evaluate(prompt, { temperature: 0 })) {
    if (generated.length === 0) t1 = performance.now();
    generated.push(t);
    if (generated.length >= req.generate) break;
  }
  const t2 = performance.now();
  prefillSeconds = (t1 - t0) / 1000;  // the prompt and the first token
  decodeSeconds = (t2 - t1) / 1000;   // the other generate-1 tokens, one at a time
  await context.dispose();
}
let argmax = [];
if ((req.score ?? []).length > 0) {
  const context = await model.createContext({ contextSize: req.contextSize ?? 256, threads: req.threads ?? 1, batchSize: 512 });
  const out = await context.getSequence().controlledEvaluate(req.score.map(t => [t, { generateNext: { token: true, options: { temperature: 0 } } }]));
  argmax = out.map(o => o?.next?.token ?? -1);
  await context.dispose();
}
const text = model.detokenize(generated);
await model.dispose();
process.stdout.write(JSON.stringify({ tokens, generated, argmax, text, prefillSeconds, decodeSeconds }) + "\n");
