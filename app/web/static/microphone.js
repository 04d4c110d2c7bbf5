// Recording from the microphone: a button that starts and stops a MediaRecorder and hands the
// recording over as a File (the Transcribe and Voice pages).
import { h } from "./dom.js";

const START = "● Record from microphone";

/** The button, and `stop()` for a page that unmounts while it records. */
export function microphoneButton(onRecorded, onError, { label = START, id } = {}) {
  let recorder = null;
  const button = h("button", { type: "button", ...(id ? { id } : {}) }, label);
  button.addEventListener("click", async () => {
    if (recorder) { recorder.stop(); return; }
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.ondataavailable = (e) => chunks.push(e.data);
      recorder.onstop = () => {
        stream.getTracks().forEach((t) => t.stop());
        const type = recorder.mimeType || "audio/webm";
        recorder = null;
        button.textContent = label;
        button.classList.remove("rec-on");
        onRecorded(new File(chunks, `recording-${new Date().toISOString().slice(0, 19)}.webm`, { type }));
      };
      recorder.start();
      button.textContent = "■ Stop recording";
      button.classList.add("rec-on");
    } catch (error) {
      onError(new Error(`The microphone is not available: ${error.message}. Allow it in the browser, or choose a file.`));
    }
  });
  return { button, stop: () => { if (recorder) recorder.stop(); } };
}
