// The page of `speech serve`: talks to the same server's OpenAI-shaped audio API (/v1/...).
// Plain script, no build step: works offline in recent Chromium and Firefox.
"use strict";

const KEY_STORE = "speech.apiKey";
const MAX_RECORD_SECONDS = 60;  // a recording stops itself here, well inside the server's upload limit

const $ = (id) => document.getElementById(id);

// --- API ------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

// fetch with the saved key as Bearer header; a non-2xx answer becomes an ApiError carrying the
// server's one-line message ({"error": {"message": ...}}), a 401 also opens the key field.
async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const key = localStorage.getItem(KEY_STORE);
  if (key) headers.set("Authorization", `Bearer ${key}`);
  let res;
  try {
    res = await fetch(path, { ...options, headers });
  } catch (err) {
    throw new ApiError(`Could not reach the server (${err.message}).`, 0);
  }
  if (res.ok) return res;
  let message = `${res.status} ${res.statusText}`.trim();
  try {
    const body = await res.json();
    if (body && body.error && body.error.message) message = body.error.message;
  } catch (_) { /* not JSON: keep the status line */ }
  if (res.status === 401) {
    askForKey();
    message = `${message} — enter the server's API key (top right) and try again.`;
  }
  throw new ApiError(message, res.status);
}

function askForKey() {
  const box = $("key-box");
  box.open = true;
  $("api-key").focus();
}

// --- panel state ----------------------------------------------------------------------------

// state: "busy" disables the panel's buttons, "recording" all but Stop; "done" / "error" / "idle" enable them.
function setState(panel, state, status = "") {
  const section = $(panel);
  section.dataset.state = state;
  section.setAttribute("aria-busy", String(state === "busy"));
  for (const b of section.querySelectorAll("button")) {
    b.disabled = state === "busy" || (state === "recording" && b.id !== "record");
  }
  $(`${panel}-status`).textContent = status;
}

function showError(panel, message) {
  const box = $(`error-${panel}`);
  box.textContent = message;
  box.hidden = !message;
}

// --- models ---------------------------------------------------------------------------------

function fillSelect(select, entries) {
  select.replaceChildren();
  for (const { value, label, voice, selected } of entries) {
    const opt = new Option(label, value, selected, selected);
    if (voice) opt.dataset.voice = voice;
    select.add(opt);
  }
}

async function loadModels() {
  let models;
  try {
    models = (await (await api("/v1/models")).json()).data || [];
  } catch (err) {
    showError("asr", err.message);
    showError("tts", err.message);
    return;
  }
  const asr = models.filter((m) => m.task === "transcription");
  fillSelect($("asr-model"), asr.map((m) => ({ value: m.id, label: m.id, selected: !!m.default })));
  const tts = [];
  for (const m of models.filter((m) => m.task === "speech")) {
    const voices = m.voices && m.voices.length ? m.voices : [m.id];
    for (const v of voices) {
      tts.push({ value: m.id, voice: v, label: v === m.id ? m.id : `${m.id} — ${v}`,
                 selected: !!m.default && v === voices[0] });
    }
  }
  fillSelect($("tts-model"), tts);
  showError("asr", asr.length ? "" : "This server runs no recognition model.");
  showError("tts", tts.length ? "" : "This server runs no voice.");
  $("asr-submit").disabled = $("record").disabled = !asr.length;
  $("tts-submit").disabled = !tts.length;
}

// --- transcription --------------------------------------------------------------------------

const seconds = (x) => Number(x).toFixed(2);

function showTranscript(result) {
  const words = result.words || [];
  $("asr-text").textContent = result.text || "(no words recognized)";
  const rows = words.map((w) => {
    const tr = document.createElement("tr");
    for (const cell of [w.word, seconds(w.start), seconds(w.end)]) {
      tr.insertCell().textContent = cell;
    }
    return tr;
  });
  $("asr-words").tBodies[0].replaceChildren(...rows);
  const notes = (result.warnings || []).join(" ");
  return `${seconds(result.duration)} s of audio. ${notes}`.trim();
}

async function transcribe(blob, filename) {
  showError("asr", "");
  $("asr-text").textContent = "";
  $("asr-words").tBodies[0].replaceChildren();
  setState("asr", "busy", `Transcribing ${filename}…`);
  const form = new FormData();
  form.append("file", blob, filename);
  form.append("model", $("asr-model").value);
  form.append("response_format", "verbose_json");
  try {
    const result = await (await api("/v1/audio/transcriptions", { method: "POST", body: form })).json();
    setState("asr", "done", `${filename}: ${showTranscript(result)}`);
  } catch (err) {
    showError("asr", err.message);
    setState("asr", "error");
  }
}

function onTranscribeFile(event) {
  event.preventDefault();
  const file = $("asr-file").files[0];
  if (!file) {
    showError("asr", "Choose an audio file first, or record one.");
    return;
  }
  transcribe(file, file.name);
}

// --- recording ------------------------------------------------------------------------------

let recorder = null;
let timer = null;

function recordingType() {
  for (const type of ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"]) {
    if (MediaRecorder.isTypeSupported(type)) return type;
  }
  return "";
}

function recordingName(type) {
  if (type.startsWith("audio/ogg")) return "recording.ogg";
  if (type.startsWith("audio/mp4")) return "recording.m4a";
  return "recording.webm";
}

async function startRecording() {
  showError("asr", "");
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    showError("asr", "This browser cannot record here (recording needs https or localhost).");
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (err) {
    showError("asr", `No microphone: ${err.message}`);
    return;
  }
  const type = recordingType();
  recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  const chunks = [];
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = () => {
    stream.getTracks().forEach((t) => t.stop());
    const mime = recorder.mimeType || type || "audio/webm";
    recorder = null;
    clearInterval(timer);
    $("record-time").textContent = "";
    const button = $("record");
    button.textContent = "Record";
    button.setAttribute("aria-pressed", "false");
    transcribe(new Blob(chunks, { type: mime }), recordingName(mime));
  };
  recorder.start();
  const started = performance.now();
  const clock = $("record-time");
  clock.dataset.seconds = "0.0";
  clock.textContent = "● 0.0 s";
  timer = setInterval(() => {
    const s = (performance.now() - started) / 1000;
    clock.dataset.seconds = s.toFixed(1);
    clock.textContent = `● ${s.toFixed(1)} s`;
    if (s >= MAX_RECORD_SECONDS) stopRecording();
  }, 100);
  const button = $("record");
  button.textContent = "Stop";
  button.setAttribute("aria-pressed", "true");
  setState("asr", "recording", "Recording… press Stop to transcribe.");
}

function stopRecording() {
  if (recorder && recorder.state !== "inactive") recorder.stop();
}

// --- synthesis ------------------------------------------------------------------------------

let audioUrl = null;

async function onSynthesize(event) {
  event.preventDefault();
  showError("tts", "");
  const option = $("tts-model").selectedOptions[0];
  if (!option) {
    showError("tts", "No voice to choose from.");
    return;
  }
  setState("tts", "busy", "Synthesizing…");
  const body = {
    model: option.value,
    voice: option.dataset.voice || option.value,
    input: $("tts-text").value,
    speed: Number($("tts-speed").value),
    response_format: "wav",
  };
  try {
    const res = await api("/v1/audio/speech", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const blob = await res.blob();
    if (audioUrl) URL.revokeObjectURL(audioUrl);
    audioUrl = URL.createObjectURL(blob);
    $("tts-audio").src = audioUrl;
    const link = $("tts-download");
    link.href = audioUrl;
    link.download = `${body.voice}.wav`;
    link.hidden = false;
    setState("tts", "done", `${(blob.size / 1024).toFixed(0)} KiB of WAV.`);
    $("tts-audio").addEventListener("loadedmetadata", (e) => {
      $("tts-status").textContent = `${e.target.duration.toFixed(1)} s of speech, ${(blob.size / 1024).toFixed(0)} KiB of WAV.`;
    }, { once: true });
  } catch (err) {
    showError("tts", err.message);
    setState("tts", "error");
  }
}

// --- wiring ---------------------------------------------------------------------------------

function init() {
  $("api-key").value = localStorage.getItem(KEY_STORE) || "";
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const key = $("api-key").value.trim();
    if (key) localStorage.setItem(KEY_STORE, key); else localStorage.removeItem(KEY_STORE);
    $("key-box").open = false;
    loadModels();
  });
  $("key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORE);
    $("api-key").value = "";
  });
  $("asr-form").addEventListener("submit", onTranscribeFile);
  $("record").addEventListener("click", () => (recorder ? stopRecording() : startRecording()));
  $("tts-form").addEventListener("submit", onSynthesize);
  $("tts-speed").addEventListener("input", (e) => {
    $("tts-speed-value").textContent = Number(e.target.value).toFixed(1);
  });
  loadModels();
}

init();
