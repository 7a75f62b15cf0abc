// The chat page: plain browser JavaScript, no build step, no third-party code. It speaks the same
// OpenAI API as any client: POST /v1/chat/completions with stream=true and include_usage, read as
// Server-Sent Events from fetch()'s body stream. Reasoning (delta.reasoning_content) is shown apart
// from the answer; each reply shows its usage and cost; the spend panel reads GET /v1/usage.
"use strict";

const $ = (id) => document.getElementById(id);
const turns = [];
let modelId = null;
let contextLength = null;
let busy = false;

$("key").value = localStorage.getItem("seeksharp.key") || "";
$("key").addEventListener("change", () => { localStorage.setItem("seeksharp.key", $("key").value.trim()); loadModel().then(refreshSpend); });

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

async function apiError(res) {
  try { const j = await res.json(); return j.error ? `${res.status}: ${j.error.message}` : `HTTP ${res.status}`; }
  catch { return `HTTP ${res.status}`; }
}

async function loadModel() {
  const res = await fetch("/v1/models", { headers: headers() });
  if (!res.ok) { $("model").textContent = "model unavailable (" + await apiError(res) + ")"; return; }
  const list = await res.json();
  modelId = list.data[0].id;
  contextLength = list.data[0].context_length;
  $("max-tokens").max = contextLength;
  if (Number($("max-tokens").value) > contextLength) $("max-tokens").value = contextLength;
  $("model").textContent = `${modelId} · context ${list.data[0].context_length} tokens`;
}

const usd = (x) => "$" + (x < 0.01 ? x.toPrecision(3) : x.toFixed(4));

async function refreshSpend() {
  const res = await fetch("/v1/usage", { headers: headers() });
  const dl = $("spend");
  if (!res.ok) { dl.textContent = await apiError(res); return; }
  const u = await res.json();
  const rows = [["key", u.key], ["requests", u.requests], ["prompt tokens", u.prompt_tokens],
    ["cache hit tokens", u.prompt_cache_hit_tokens], ["completion tokens", u.completion_tokens], ["spent", usd(u.spent_usd)]];
  if (u.budget_usd !== null) rows.push(["budget", usd(u.budget_usd)], ["remaining", usd(u.remaining_usd)]);
  if (u.rpm !== null) rows.push(["requests/min", u.rpm]);
  dl.replaceChildren(...rows.flatMap(([k, v]) => { const dt = document.createElement("dt"), dd = document.createElement("dd"); dt.textContent = k; dd.textContent = v; return [dt, dd]; }));
  const p = u.pricing;
  $("prices").textContent = `Prices per million tokens: cache hit ${usd(p.input_cache_hit_per_million)}, cache miss ${usd(p.input_cache_miss_per_million)}, output ${usd(p.output_per_million)}. ${p.description}`;
}

function bubble(role) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  if (role === "assistant") {
    for (const part of ["reasoning", "content", "usage"]) {
      const span = document.createElement("div");
      span.className = part;
      div.appendChild(span);
    }
  }
  $("messages").appendChild(div);
  return div;
}

// Reads an SSE body: events are separated by a blank line; each "data: " line carries one JSON chunk.
async function* events(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      for (const line of event.split("\n")) if (line.startsWith("data: ")) yield line.slice(6);
    }
  }
}

async function send(text) {
  busy = true;
  $("send").disabled = true;
  $("error").textContent = "";
  turns.push({ role: "user", content: text });
  bubble("user").textContent = text;
  const out = bubble("assistant");
  const messages = [];
  const system = $("system").value.trim();
  if (system) messages.push({ role: "system", content: system });
  messages.push(...turns);
  let content = "";
  try {
    const res = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(),
      body: JSON.stringify({
        model: modelId, messages, stream: true, stream_options: { include_usage: true },
        // The server refuses max_tokens above the context and shortens it to the room the prompt leaves.
        max_tokens: Math.min(Number($("max-tokens").value) || contextLength, contextLength), temperature: Number($("temperature").value),
      }),
    });
    if (!res.ok) throw new Error(await apiError(res));
    for await (const data of events(res.body)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message);
      for (const choice of chunk.choices) {
        if (choice.delta.reasoning_content) out.querySelector(".reasoning").textContent += choice.delta.reasoning_content;
        if (choice.delta.content) { content += choice.delta.content; out.querySelector(".content").textContent = content; }
        if (choice.finish_reason) out.dataset.finish = choice.finish_reason;
      }
      if (chunk.usage) {
        const u = chunk.usage;
        out.querySelector(".usage").textContent =
          `${u.prompt_tokens} prompt (${u.prompt_cache_hit_tokens} cached) + ${u.completion_tokens} completion tokens · ${usd(u.cost_usd)} · ${out.dataset.finish}`;
      }
    }
    turns.push({ role: "assistant", content });
    out.dataset.done = "true";
  } catch (e) {
    $("error").textContent = e.message;
    turns.pop();
    out.remove();
  } finally {
    busy = false;
    $("send").disabled = false;
    refreshSpend();
  }
}

$("composer").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value.trim();
  if (!modelId) { $("error").textContent = "The model is not loaded: if the server needs an API key, enter it above."; return; }
  if (!text || busy) return;
  $("input").value = "";
  send(text);
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
});
$("clear").addEventListener("click", () => { turns.length = 0; $("messages").replaceChildren(); });

loadModel().then(refreshSpend);
