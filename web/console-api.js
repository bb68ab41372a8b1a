// The console's side of Helpline's REST API: one place that adds the
// operator's token, reads JSON errors and turns them into ApiError.
//
// Errors are `{"error": {"code", "message"}}`, sometimes with `problems`
// (`[{path, sentence}]`, a document refused with the place of each fault)
// or `failures` (the validator's report, each with its path step by step).

/** A server's message as a sentence: capital first, full stop last. */
export function asSentence(text) {
  const trimmed = String(text ?? '').trim();
  if (!trimmed) return '';
  const capital = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?…]$/.test(capital) ? capital : `${capital}.`;
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = body?.error ?? {};
    super(asSentence(error.message || `The helpline answered ${status}`));
    this.status = status;
    this.code = error.code ?? 'http-error';
    this.field = error.field ?? ''; // the one field a refusal is about
    this.problems = body?.problems ?? error.problems ?? [];
    this.failures = body?.failures ?? error.failures ?? body?.report?.failures ?? [];
  }
}

/** Calls the API as the signed-in operator; `onUnauthorized` runs on 401. */
export class Api {
  constructor(token, onUnauthorized) {
    this.token = token;
    this.onUnauthorized = onUnauthorized;
  }

  get(path) {
    return this.request('GET', path);
  }

  /** A text body (YAML): the answer as text, not JSON. */
  async getText(path) {
    const response = await this._fetch('GET', path, {});
    return response.text();
  }

  /** A file to save (an export): the answer as a Blob. */
  async getBlob(path) {
    const response = await this._fetch('GET', path, {});
    return response.blob();
  }

  post(path, json) {
    return this.request('POST', path, { json });
  }

  put(path, json) {
    return this.request('PUT', path, { json });
  }

  delete(path) {
    return this.request('DELETE', path);
  }

  /** `body` sent as is with `type` (YAML, audio). */
  send(method, path, body, type) {
    return this.request(method, path, { body, type });
  }

  async request(method, path, options = {}) {
    const response = await this._fetch(method, path, options);
    if (response.status === 204) return {};
    return response.json().catch(() => ({}));
  }

  async _fetch(method, path, { json, body, type }) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    } else if (type) {
      headers['Content-Type'] = type;
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body });
    } catch {
      throw new ApiError(0, {
        error: { code: 'unreachable', message: 'Could not reach the helpline. Try again' },
      });
    }
    if (response.ok) return response;
    const payload = await response.json().catch(() => ({}));
    const error = new ApiError(response.status, payload);
    if (response.status === 401) this.onUnauthorized?.(error);
    throw error;
  }
}

/** Signs in; the user must be an operator. Returns {token, user}. */
export async function signIn(username, password) {
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  }).catch(() => null);
  if (!response) throw new Error('Could not reach the helpline. Try again.');
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(asSentence(body.error?.message ?? 'Signing in failed. Try again'));
  }
  if (body.user?.role !== 'operator') {
    await signOut(body.token);
    throw new Error('This account is not an operator’s. Sign in as an operator.');
  }
  return { token: body.token, user: body.user };
}

export async function signOut(token) {
  await fetch('/api/logout', {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}` },
  }).catch(() => {});
}

/** The user a saved token belongs to, or null when it no longer works. */
export async function whoAmI(token) {
  const response = await fetch('/api/me', {
    headers: { Authorization: `Bearer ${token}` },
  }).catch(() => null);
  if (!response?.ok) return null;
  const body = await response.json().catch(() => ({}));
  return body.user?.role === 'operator' ? body.user : null;
}
