// The page visit: one random id per visit (kept in sessionStorage, so a
// reload is the same visit and another tab is another), sent with the FAQ
// answers the customer opens and with the calls and callback requests
// placed from the page. The operator's reports count a visit's self-service
// and its calls as one interaction.

const STORAGE_KEY = 'helpline.visit';
const VISIT = /^[A-Za-z0-9_-]{16,64}$/;

let memoryVisit = '';

/** This page visit's id (24 URL-safe characters). */
export function visitId() {
  try {
    const stored = sessionStorage.getItem(STORAGE_KEY);
    if (stored && VISIT.test(stored)) return stored;
    const made = memoryVisit || newVisit();
    sessionStorage.setItem(STORAGE_KEY, made);
    memoryVisit = made;
    return made;
  } catch {
    // Storage refused (a sandboxed frame): the visit lasts as long as the page.
    memoryVisit ||= newVisit();
    return memoryVisit;
  }
}

function newVisit() {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  const text = btoa(String.fromCharCode(...bytes));
  return text.replaceAll('+', '-').replaceAll('/', '_');
}

/**
 * Tells Helpline the customer opened FAQ answer `faqId`: fire and forget,
 * kept alive if the page goes away. Sent as text/plain (JSON inside), so a
 * page of another site needs no preflight.
 */
export function reportFaqViewed(origin, faqId) {
  const body = JSON.stringify({ visit: visitId(), kind: 'faq.viewed', detail: faqId });
  fetch(new URL('/api/visits/events', origin), { method: 'POST', body, keepalive: true })
    .then((response) => {
      if (!response.ok) console.warn('helpline: the FAQ view was not recorded:', response.status);
    })
    .catch((error) => console.warn('helpline: the FAQ view was not recorded:', error));
}
