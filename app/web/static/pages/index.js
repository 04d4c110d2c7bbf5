// Every page of the UI, in navigation order. A new page is a module in this folder that exports
// {id, path, title, icon, nav, mount(root, ctx)} and one line here (docs/web-ui.md).
import audit from "./audit.js";
import chat from "./chat.js";
import jobs from "./jobs.js";
import models from "./models.js";
import speech from "./speech.js";
import studio from "./studio.js";
import transcribe from "./transcribe.js";
import voice from "./voice.js";
import welcome from "./welcome.js";

export const PAGES = [jobs, transcribe, speech, studio, chat, voice, models, audit, welcome];
