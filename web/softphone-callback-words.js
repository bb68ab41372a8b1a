// The softphone's callback lists in words: when a callback is due, what the
// customer asked for, and where the customer went in the IVR before asking.

import { choiceInWords } from './journey.js';

const TIME = { hour: '2-digit', minute: '2-digit' };
const DAY = { weekday: 'short', day: 'numeric', month: 'short' };

/** "Due today 14:05 · asked for 12:00–17:00", or "· as soon as possible". */
export function dueInWords(item, now = new Date()) {
  const due = new Date((item.due_at ?? 0) * 1000);
  const today = due.toDateString() === now.toDateString();
  const day = today ? 'today' : due.toLocaleDateString('en', DAY);
  const time = due.toLocaleTimeString('en-GB', TIME);
  return `Due ${day} ${time} · ${askedInWords(item)}`;
}

/** What the customer asked for: a window (on a day), or as soon as possible. */
export function askedInWords({ window, date }) {
  if (!window) return 'as soon as possible';
  const on = date ? ` on ${date}` : '';
  return `asked for ${String(window).replace('-', '–')}${on}`;
}

/** The IVR journey in one line: the choices made, the answers heard. */
export function journeyInWords(journey) {
  if (!journey || Object.keys(journey).length === 0) return 'Asked on the website';
  const choices = (journey.choices ?? []).map(choiceInWords);
  const parts = [choices.length ? choices.join(' › ') : 'No menu choice'];
  const answers = journey.faq?.length ?? 0;
  if (answers) parts.push(`${answers} answer${answers === 1 ? '' : 's'} heard`);
  return parts.join(' · ');
}
