// The operator console: sign in as an operator, then edit the FAQ, build,
// check and publish the IVR menus, try a menu in the simulator, set the
// opening hours, read a period's report and watch the live floor. Every
// tab but the floor talks to the REST API (see /openapi.json); the floor
// is pushed on a signaling session (console-floor.js).
//
// The operator's token lives in sessionStorage, so a reload keeps the
// operator signed in. The tab shown is kept in the address (#menus), so a
// reload comes back to it. `window.operatorConsole` is the instance.

import { Api, signIn, signOut, whoAmI } from './console-api.js';
import { FaqTab } from './console-faq.js';
import { FloorTab } from './console-floor.js';
import { HoursTab } from './console-hours.js';
import { MenusTab } from './console-menus.js';
import { ReportsTab } from './console-reports.js';
import { SimulatorTab } from './console-sim.js';

const STORAGE_KEY = 'helpline.operator';
const TABS = ['faq', 'menus', 'simulator', 'hours', 'reports', 'floor'];

function loadSaved() {
  try {
    return JSON.parse(sessionStorage.getItem(STORAGE_KEY));
  } catch {
    return null;
  }
}

class OperatorConsole {
  constructor() {
    const $ = (id) => document.getElementById(id);
    this.$ = $;
    this.user = null;
    this.api = null;
    this.current = null;
    this._bindSignIn();
    this._bindTabs();
    this.tabs = {
      faq: new FaqTab(this),
      menus: new MenusTab(this),
      simulator: new SimulatorTab(this),
      hours: new HoursTab(this),
      reports: new ReportsTab(this),
      floor: new FloorTab(this),
    };
  }

  get signedIn() {
    return this.user !== null;
  }

  /** Picks up a saved sign-in, or shows the form. */
  async restore() {
    const saved = loadSaved();
    const user = saved?.token ? await whoAmI(saved.token) : null;
    if (!user) {
      sessionStorage.removeItem(STORAGE_KEY);
      if (saved?.token) this._signedOut('Your sign-in has expired. Sign in again.');
      else this._signedOut('');
      return;
    }
    this._start(saved.token, user);
  }

  async signIn(username, password) {
    const { token, user } = await signIn(username, password);
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ token, user }));
    this._start(token, user);
  }

  async signOut(message = '') {
    const token = this.api?.token;
    sessionStorage.removeItem(STORAGE_KEY);
    this._signedOut(message);
    if (token) await signOut(token);
  }

  _start(token, user) {
    this.user = user;
    this.api = new Api(token, () =>
      this.signOut('Your sign-in has expired. Sign in again.'),
    );
    this.$('operator-name').textContent = user.name || user.username;
    this.$('sign-in').hidden = true;
    this.$('who').hidden = false;
    this.$('desk').hidden = false;
    const wanted = location.hash.slice(1);
    this.select(TABS.includes(wanted) ? wanted : 'faq');
  }

  _signedOut(message) {
    this.user = null;
    this.api = null;
    for (const tab of Object.values(this.tabs)) tab.reset();
    this.current = null;
    this.$('desk').hidden = true;
    this.$('who').hidden = true;
    this.$('sign-in').hidden = false;
    this.$('sign-in-error').textContent = message;
    document.title = 'Operator console · Helpline';
  }

  /** Shows the tab `name`; `focus` moves the keyboard to its tab button. */
  select(name, { focus = false } = {}) {
    for (const other of TABS) {
      const button = this.$(`tab-${other}`);
      const chosen = other === name;
      button.setAttribute('aria-selected', String(chosen));
      button.tabIndex = chosen ? 0 : -1;
      this.$(`panel-${other}`).hidden = !chosen;
    }
    if (focus) this.$(`tab-${name}`).focus();
    if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
    this.current = name;
    const label = this.$(`tab-${name}`).textContent;
    document.title = `${label} · Operator console · Helpline`;
    return this.tabs[name]?.show();
  }

  _bindSignIn() {
    const form = this.$('sign-in-form');
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = this.$('sign-in-error');
      error.textContent = '';
      try {
        await this.signIn(this.$('username').value, this.$('password').value);
        this.$('password').value = '';
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
    this.$('sign-out').addEventListener('click', () => this.signOut());
  }

  // Tabs as WAI-ARIA describes them: arrows move between tabs, Home and
  // End jump to the first and last; choosing a tab shows its panel.
  _bindTabs() {
    for (const name of TABS) {
      const button = this.$(`tab-${name}`);
      button.addEventListener('click', () => this.select(name));
      button.addEventListener('keydown', (event) => {
        const index = TABS.indexOf(name);
        const moves = {
          ArrowRight: index + 1,
          ArrowLeft: index - 1 + TABS.length,
          Home: 0,
          End: TABS.length - 1,
        };
        if (!(event.key in moves)) return;
        event.preventDefault();
        this.select(TABS[moves[event.key] % TABS.length], { focus: true });
      });
    }
    // Closing or reloading the page with edits not saved asks first.
    window.addEventListener('beforeunload', (event) => {
      if (this.signedIn && Object.values(this.tabs).some((tab) => tab.dirty)) {
        event.preventDefault();
      }
    });
    window.addEventListener('hashchange', () => {
      const wanted = location.hash.slice(1);
      if (this.signedIn && TABS.includes(wanted) && wanted !== this.current) {
        this.select(wanted);
      }
    });
  }
}

const operatorConsole = new OperatorConsole();
window.operatorConsole = operatorConsole;
operatorConsole.restore();
