// The widget's styles. They live in its shadow root, so the host page's
// styles do not reach them and these do not leak into the page.

const BASE = `
  :host { all: initial; }
  .hl {
    position: fixed; right: 20px; bottom: 20px; z-index: 2147483000;
    display: flex; flex-direction: column; align-items: flex-end; gap: 12px;
    max-height: calc(100vh - 40px);
    font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
    color: #1c2430;
  }
  button {
    font: inherit; cursor: pointer; border-radius: 8px; border: 1px solid #c5ccd6;
    background: #fff; color: inherit; padding: 8px 12px;
  }
  button:hover { background: #f1f4f8; }
  button:focus-visible, input:focus-visible, summary:focus-visible, a:focus-visible {
    outline: 3px solid #7aa7ff; outline-offset: 2px;
  }
  button[disabled] { opacity: .5; cursor: default; }
  a { color: #0b5cd5; }
  .launcher {
    display: inline-flex; align-items: center; gap: 8px; border: 0;
    background: #0b5cd5; color: #fff; padding: 12px 20px; border-radius: 999px;
    font-weight: 600; box-shadow: 0 4px 14px rgba(11, 92, 213, .35);
  }
  .launcher:hover { background: #0a4fb6; }
  .launcher svg { width: 18px; height: 18px; fill: currentColor; }
  .panel, .dock {
    width: 300px; background: #fff; border-radius: 14px; padding: 16px;
    box-shadow: 0 10px 30px rgba(16, 24, 40, .22); border: 1px solid #e3e7ee;
    max-height: calc(100vh - 40px); overflow-y: auto; box-sizing: border-box;
  }
  [hidden] { display: none !important; }
  header { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
  h2 { font-size: 16px; margin: 0; }
  .close { border: 0; padding: 4px 8px; font-size: 18px; line-height: 1; }
  .status { margin: 12px 0 2px; font-weight: 600; }
  .detail { margin: 0 0 12px; color: #4b5565; min-height: 1.4em; }
  .controls { display: flex; gap: 8px; }
  .controls button { flex: 1; }
  button[aria-pressed="true"] { background: #fff4d6; border-color: #e0b84c; }
  .hangup { background: #c92a2a; border-color: #c92a2a; color: #fff; }
  .hangup:hover { background: #a61e1e; }
  .again {
    width: 100%; margin-top: 4px; background: #0b5cd5; border-color: #0b5cd5; color: #fff;
  }
  .again:hover { background: #0a4fb6; }
  .keypad {
    display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px; margin-top: 12px;
  }
  .keypad button { padding: 6px 0; font-size: 17px; }
  .keypad button.pressed { background: #e6efff; border-color: #7aa7ff; }
`;

// The FAQ search that comes before any call, with "Call us" under it.
const DOCK = `
  .dock { display: flex; flex-direction: column; gap: 8px; padding: 14px; }
  .dock label { font-weight: 600; }
  .dock input {
    font: inherit; width: 100%; box-sizing: border-box; padding: 8px 10px;
    border: 1px solid #c5ccd6; border-radius: 8px;
  }
  .found { margin: 0; color: #4b5565; font-size: 14px; }
  .found:empty { display: none; }
  .results { list-style: none; margin: 0; padding: 0; }
  .results li { border-top: 1px solid #e3e7ee; padding: 8px 0; }
  .results summary { cursor: pointer; font-weight: 600; }
  .results details[open] .snippet { display: none; }
  .snippet { display: block; font-weight: 400; color: #4b5565; font-size: 14px; }
  .answer-text { margin: 6px 0; white-space: pre-line; }
  .listen { padding: 4px 10px; font-size: 14px; }
  .dock-actions { display: flex; justify-content: flex-end; align-items: center; gap: 8px; }
`;

// The IVR inside a call: prompt, answer cards, menu, callback form.
const IVR = `
  .ivr { margin: 0 0 12px; }
  .voice { margin-left: auto; padding: 3px 10px; font-size: 13px; }
  .voice[aria-checked="true"] { background: #e3f4ea; border-color: #1f8a4c; }
  .prompt {
    margin: 8px 0; padding: 8px 10px; background: #f4f6fa; border-radius: 8px;
  }
  .prompt:empty { display: none; }
  .cards { list-style: none; margin: 0; padding: 0; }
  .card {
    border: 1px solid #e3e7ee; border-left: 4px solid #0b5cd5; border-radius: 8px;
    padding: 8px 10px; margin: 8px 0;
  }
  .card h3 { font-size: 15px; margin: 0 0 4px; }
  .card p { margin: 0 0 6px; white-space: pre-line; }
  .card[data-playing="true"] { background: #f4f8ff; }
  .options { display: flex; flex-direction: column; gap: 6px; margin: 8px 0; }
  .options button {
    display: flex; gap: 10px; align-items: center; text-align: left; padding: 5px 10px;
  }
  .options .key {
    display: inline-grid; place-items: center; min-width: 24px; height: 24px;
    border-radius: 50%; background: #e6efff; color: #0b5cd5; font-weight: 700;
  }
  .entry { margin: 6px 0; font-family: ui-monospace, monospace; letter-spacing: .12em; }
  .entry:empty { display: none; }
  .callback { display: flex; flex-direction: column; gap: 6px; margin: 8px 0; }
  .callback label, .callback legend { font-weight: 600; }
  .callback input[type="tel"] {
    font: inherit; padding: 8px 10px; border: 1px solid #c5ccd6; border-radius: 8px;
  }
  .callback input[aria-invalid="true"] { border-color: #c92a2a; }
  .callback fieldset { border: 0; margin: 0; padding: 0; }
  .callback fieldset label { display: block; font-weight: 400; }
  .hint { margin: 0; color: #4b5565; font-size: 14px; }
  .form-error { margin: 0; color: #c92a2a; }
  .form-error:empty { display: none; }
  .form-actions { display: flex; gap: 8px; }
  .form-actions button { flex: 1; }
  .form-actions .submit { background: #0b5cd5; border-color: #0b5cd5; color: #fff; }
  .outcome {
    margin: 8px 0; padding: 8px 10px; border-radius: 8px; background: #e3f4ea;
  }
  .outcome:empty { display: none; }
  .outcome a { font-weight: 700; }
  .outcome.refused { background: #fdf1e6; }
`;

// Callbacks: the form of its own in the dock, the pending card, and the
// Answer and Decline buttons of an agent calling back in the tab.
const CALLBACKS = `
  .ask-callback { border-radius: 999px; padding: 11px 16px; font-weight: 600; }
  .own-callback h3 { font-size: 15px; margin: 0; }
  .dock .callback input[type="radio"] { width: auto; margin: 0 4px 0 0; }
  .callback select {
    font: inherit; padding: 6px 8px; border: 1px solid #c5ccd6; border-radius: 8px;
    background: #fff;
  }
  .consent { margin: 0; color: #4b5565; font-size: 13px; }
  .consent:empty { display: none; }
  .callback-card {
    width: 300px; box-sizing: border-box; background: #fff; border-radius: 14px;
    padding: 12px 16px; box-shadow: 0 10px 30px rgba(16, 24, 40, .22);
    border: 1px solid #e3e7ee; border-left: 4px solid #1f8a4c; flex-shrink: 0;
  }
  .callback-card[data-state="failed"], .callback-card[data-state="cancelled"] {
    border-left-color: #8a94a6;
  }
  .callback-card h3 { font-size: 15px; margin: 0; }
  .callback-card p { margin: 6px 0 0; }
  .callback-card p:empty { display: none; }
  .cb-title { font-weight: 600; }
  .cb-detail { color: #4b5565; font-size: 14px; }
  .callback-card .dismiss { border: 0; padding: 2px 8px; font-size: 18px; line-height: 1; }
  .cancel-callback { margin-top: 8px; padding: 4px 12px; font-size: 14px; }
  .incoming .answer { background: #1f8a4c; border-color: #1f8a4c; color: #fff; }
  .incoming .answer:hover { background: #187040; }
`;

export const STYLE = BASE + DOCK + IVR + CALLBACKS;
