// The journey of a call through the IVR, as the softphone shows it when the
// call rings (a screen pop): the menu choices the customer made, the FAQ
// answers it was given, the offers it had (answers, a callback), the skill
// its queue asked for, and how long it spent in the menu. The agent starts
// the conversation knowing what the customer already heard.

const OFFER_WORDS = { faq: 'FAQ answers', callback: 'a callback' };

/** "1 min 05 s", or "35 s" under a minute. */
export function durationInWords(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '—';
  const total = Math.max(0, Math.round(seconds));
  if (total < 60) return `${total} s`;
  const rest = String(total % 60).padStart(2, '0');
  return `${Math.floor(total / 60)} min ${rest} s`;
}

/** One menu choice as the agent reads it: its label and the key pressed. */
export function choiceInWords({ node, digits, label }) {
  if (label) return `${label} (${digits})`;
  return `Key ${digits} at ${node}`;
}

/** The offers as a sentence part: "FAQ answers and a callback". */
export function offersInWords(offers) {
  const words = (offers ?? []).map((offer) => OFFER_WORDS[offer] ?? offer);
  if (words.length === 0) return 'None';
  const text = new Intl.ListFormat('en', { type: 'conjunction' }).format(words);
  return text[0].toUpperCase() + text.slice(1);
}

function fillList(list, texts) {
  const items = texts.map((text) => {
    const item = document.createElement('li');
    item.textContent = text;
    return item;
  });
  if (items.length === 0) {
    const none = document.createElement('li');
    none.textContent = 'None';
    none.className = 'none';
    items.push(none);
  }
  list.replaceChildren(...items);
}

/**
 * Shows `journey` (from `call.state` ringing) in the softphone's journey
 * section, or hides the section when the call has none (no menu).
 */
export function renderJourney(parts, journey) {
  parts.section.hidden = !journey;
  if (!journey) return;
  const version = journey.version ? `, version ${journey.version}` : '';
  parts.menu.textContent = journey.menu ? `Menu ${journey.menu}${version}` : '';
  fillList(parts.choices, (journey.choices ?? []).map(choiceInWords));
  fillList(
    parts.faq,
    (journey.faq ?? []).map((answer) => answer.question || answer.id),
  );
  parts.offers.textContent = offersInWords(journey.offers);
  parts.skill.textContent = journey.skill || '—';
  parts.time.textContent = durationInWords(journey.ivr_seconds);
}

/** The journey section's parts in the softphone page. */
export function findJourneyParts(document) {
  const $ = (id) => document.getElementById(id);
  return {
    section: $('journey'),
    menu: $('journey-menu'),
    choices: $('journey-choices'),
    faq: $('journey-faq'),
    offers: $('journey-offers'),
    skill: $('journey-skill'),
    time: $('journey-time'),
  };
}
