// What the widget says about callbacks, in words: the countries called, a
// window, and where a kept callback stands (the pending card's sentences).

const FINAL = Object.freeze(['done', 'failed', 'cancelled']);

/** True for a state a callback never leaves. */
export function isFinal(state) {
  return FINAL.includes(state);
}

/** The countries a callback may go to, in words, from region codes. */
export function countriesInWords(countries) {
  if (!countries?.length) return '';
  let names = countries;
  try {
    const regions = new Intl.DisplayNames(['en'], { type: 'region' });
    names = countries.map((code) => regions.of(code) ?? code);
    names = new Intl.ListFormat('en', { type: 'conjunction' }).format(names);
  } catch {
    names = countries.join(', ');
  }
  return `Countries we call: ${names}. Please include the area code.`;
}

/** "09:00-12:00" as "09:00 and 12:00", to follow "between". */
export function windowBounds(window) {
  const [from, to] = String(window).split('-');
  return to ? `${from} and ${to}` : String(window);
}

/** A window as a choice of the form; "" is as soon as possible. */
export function windowInWords(window) {
  return window ? `Between ${windowBounds(window)}` : 'As soon as possible';
}

// An attempt counts whether or not it reached the customer (an agent may
// ask to call again), so the card says how many, not how they went.
function attemptsInWords({ attempts = 0, max_attempts: max }) {
  if (!attempts) return '';
  return max ? `Calls so far: ${attempts} of ${max}.` : `Calls so far: ${attempts}.`;
}

/** The card's title and detail for a `callback.status`. */
export function statusInWords(status) {
  const when = status.when ? ` ${status.when}` : '';
  switch (status.state) {
    case 'waiting':
    case 'offered':
      return [`We will call you back${when}.`, attemptsInWords(status)];
    case 'dialling':
      return ['We are calling you now.', 'Please answer your phone.'];
    case 'connected':
      return ['You are talking with us.', ''];
    case 'wrap-up':
    case 'done':
      return ['We called you back.', 'Thank you for talking with us.'];
    case 'failed':
      return ['We could not reach you.', attemptsInWords(status)];
    case 'cancelled':
      return ['Your callback is cancelled.', 'We will not call you.'];
    default:
      return ['Your callback request is kept.', ''];
  }
}
