// Transcripts: speaker names and colours, and the txt/srt/vtt/json exports.

export function speakerName(record, id) {
  return (record.speaker_labels && record.speaker_labels[id]) || (id ? id.replace("SPEAKER_", "Speaker ") : "");
}

/** The colour variable of a speaker (by its order in the record's speakers). */
export function speakerColour(record, id) {
  const index = Math.max(0, (record.speakers || []).indexOf(id));
  return `var(--spk-${index % 8})`;
}

function stamp(seconds, separator) {
  const ms = Math.round((seconds || 0) * 1000);
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  const rest = ms % 1000;
  const two = (n) => String(n).padStart(2, "0");
  return `${two(h)}:${two(m)}:${two(s)}${separator}${String(rest).padStart(3, "0")}`;
}

/** The lines of the record: transcript segments, or (diarization only) the speaker turns. */
export function cues(record) {
  if (record.segments && record.segments.length) {
    return record.segments.map((s) => ({ start: s.start, end: s.end, speaker: s.speaker, text: s.text.trim() }));
  }
  return (record.speaker_turns || []).map((t) => ({ start: t.start, end: t.end, speaker: t.speaker, text: t.text || "" }));
}

function who(record, cue) {
  return cue.speaker ? `${speakerName(record, cue.speaker)}: ` : "";
}

export const EXPORTS = {
  txt(record) {
    const lines = cues(record).map((c) => `[${stamp(c.start, ".").slice(3, 8)}] ${who(record, c)}${c.text}`.trim());
    return [record.title || record.filename || "Transcript", "", ...lines, ""].join("\n");
  },
  srt(record) {
    return cues(record).map((c, i) => `${i + 1}\n${stamp(c.start, ",")} --> ${stamp(c.end, ",")}\n${who(record, c)}${c.text}\n`).join("\n");
  },
  vtt(record) {
    const body = cues(record).map((c) => `${stamp(c.start, ".")} --> ${stamp(c.end, ".")}\n${c.speaker ? `<v ${speakerName(record, c.speaker)}>` : ""}${c.text}\n`);
    return ["WEBVTT", "", ...body].join("\n");
  },
  json(record) {
    return JSON.stringify(record, null, 2);
  },
};

export const EXPORT_TYPES = { txt: "text/plain", srt: "application/x-subrip", vtt: "text/vtt", json: "application/json" };
