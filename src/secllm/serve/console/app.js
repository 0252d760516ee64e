// SecLLM console: every value from the server or the user is written with textContent (never as
// HTML), so a hostile request, log line or file name can only ever show up as text.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let session = null;
  const BINARY = /\.(pcap|pcapng|cap|gz|evtx)$/i;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function readFile(f) {
    return new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onerror = () => reject(r.error);
      if (BINARY.test(f.name)) {
        r.onload = () => resolve({ name: f.name, encoding: "base64", content: String(r.result).split(",", 2)[1] || "" });
        r.readAsDataURL(f);
      } else {
        r.onload = () => resolve({ name: f.name, encoding: "text", content: String(r.result) });
        r.readAsText(f);
      }
    });
  }

  function verdictTable(calls) {
    const rows = [];
    for (const c of calls) {
      const res = c.result || {};
      for (const r of res.results || []) rows.push([r.item, r.input_kind, r.task, r.label || r.status, r.attack_type, r.score]);
      for (const f of res.findings || []) rows.push([f.file + ":" + f.line, f.input_kind, f.task, f.label, f.attack_type, f.score]);
    }
    if (!rows.length) return null;
    const t = el("table");
    const h = el("tr");
    for (const name of ["item", "kind", "judged by", "verdict", "type", "score"]) h.appendChild(el("th", null, name));
    t.appendChild(h);
    for (const r of rows) {
      const tr = el("tr");
      r.forEach((v, i) => tr.appendChild(el("td", i === 3 && v === "malicious" ? "malicious" : null, v === null || v === undefined ? "" : v)));
      t.appendChild(tr);
    }
    return t;
  }

  async function ask(question) {
    question = (question || $("question").value).trim();
    if (!question) return;
    const files = await Promise.all(Array.from($("file").files || []).map(readFile));
    const turn = el("div", "turn");
    turn.appendChild(el("div", "q", question + (files.length ? "  [" + files.map((f) => f.name).join(", ") + "]" : "")));
    $("log").prepend(turn);
    $("status").textContent = "…";
    const headers = { "Content-Type": "application/json" };
    const key = $("key").value.trim();
    if (key) headers["X-API-Key"] = key;
    try {
      const resp = await fetch("/v1/ask", { method: "POST", headers, body: JSON.stringify({ question, files, session }) });
      const data = await resp.json();
      if (!resp.ok) {
        turn.appendChild(el("div", "error", (data.error && data.error.message) || resp.status));
        return;
      }
      session = data.session;
      turn.appendChild(el("div", "meta", "intent: " + data.intent + " · language: " + data.language +
        " · tools: " + data.tool_calls.map((c) => c.tool).join(", ")));
      turn.appendChild(el("div", "answer", data.answer));
      const table = verdictTable(data.tool_calls);
      if (table) turn.appendChild(table);
      if (data.citations.length) {
        const cites = el("div", "meta", data.language === "zh" ? "引用：" : "cites: ");
        for (const id of data.citations) {
          const b = el("button", "cite", id);
          b.type = "button";
          b.addEventListener("click", () => ask(data.language === "zh" ? id + " 是什么？" : "What is " + id + "?"));
          cites.appendChild(b);
        }
        turn.appendChild(cites);
      }
      $("file").value = "";
    } catch (e) {
      turn.appendChild(el("div", "error", String(e)));
    } finally {
      $("status").textContent = "";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("send").addEventListener("click", () => ask());
    $("reset").addEventListener("click", () => { session = null; $("log").textContent = ""; });
    $("question").addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) ask(); });
  });
})();
