// The administration pages: log in, a side menu of sections, per resource a paged table with create, edit
// and delete through a form built from resources.js; call flows in flows.js.
import { api, logIn, logOut, token } from '../shared/net.js';
import { buildFields, el, readFields, refChoices, say, showError } from './form.js';
import { showFlows } from './flows.js';
import { RESOURCES } from './resources.js';
import { LANGUAGES, lang, setLang, t, translate } from './strings.js';

const $ = (id) => document.getElementById(id);
const PAGE = 20;
const SECTIONS = [...Object.keys(RESOURCES), 'call_flows'];
const view = { section: 'users', offset: 0 };

// ---------------------------------------------------------------- cells

function cell(value) {
  if (value === null || value === undefined || value === '') return '';
  if (typeof value === 'boolean') return t(value ? 'yes' : 'no');
  if (Array.isArray(value)) return value.join(', ');
  const entries = typeof value === 'object' ? Object.entries(value) : [];
  // opening hours: "mon 08:00–12:00, 13:00–17:30 · sat 08:00–11:30"
  if (entries.length && entries.every(([, v]) => Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2))) {
    return entries.filter(([, v]) => v.length).map(([k, v]) => `${k} ${v.map((p) => p.join('–')).join(', ')}`).join(' · ');
  }
  if (typeof value === 'object') return Object.entries(value).map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : v}`).join(', ');
  return String(value);
}

function rowName(row) { return row.name || row.email || row.e164 || row.id; }

// ---------------------------------------------------------------- a resource's table

/** For each column that is a `ref` field: a map from the stored value to the name shown. */
async function refNames(res) {
  const names = {};
  for (const field of res.fields) {
    if (field.kind === 'ref' && res.columns.includes(field.name)) {
      try { names[field.name] = new Map(await refChoices(field)); } catch { /* the raw value is shown */ }
    }
  }
  return names;
}

async function showResource(key) {
  const res = RESOURCES[key];
  const panel = $('panel');
  const status = el('div', { id: 'status', className: 'status', role: 'status' });
  const newButton = el('button', { type: 'button', className: 'primary', textContent: t('new') });
  newButton.addEventListener('click', () => openForm(key, null));
  panel.replaceChildren(el('div', { className: 'head' }, el('h2', { id: 'panel-title', tabIndex: -1, textContent: t(key) }), newButton),
    status, el('div', { id: 'form-slot' }));
  let page;
  try {
    page = await api(`${res.path}?limit=${PAGE}&offset=${view.offset}`);
  } catch (e) { showError(status, e); return; }
  const names = await refNames(res);
  const head = el('tr', {}, ...res.columns.map((c) => el('th', { scope: 'col', textContent: t(`f_${c}`) })),
    el('th', { scope: 'col', textContent: t('actions') }));
  const body = el('tbody');
  for (const row of page.items) {
    const edit = el('button', { type: 'button', textContent: t('edit') });
    edit.setAttribute('aria-label', `${t('edit')} ${rowName(row)}`);
    edit.addEventListener('click', () => openForm(key, row));
    const del = el('button', { type: 'button', className: 'danger', textContent: t('delete') });
    del.setAttribute('aria-label', `${t('delete')} ${rowName(row)}`);
    del.addEventListener('click', () => remove(key, row));
    const tr = el('tr', {}, ...res.columns.map((c) => el('td', { textContent: names[c]?.get(row[c]) ?? cell(row[c]) })),
      el('td', {}, el('div', { className: 'actions' }, edit, del)));
    tr.dataset.id = row.id;
    body.append(tr);
  }
  const table = el('table', { id: 'rows' }, el('caption', { className: 'sr-only', textContent: t(key) }), el('thead', {}, head), body);
  panel.append(page.items.length ? el('div', { className: 'scroll' }, table) : el('p', { textContent: t('empty') }), pager(page));
  return page;
}

function pager(page) {
  const prev = el('button', { type: 'button', textContent: t('previous'), disabled: page.offset === 0 });
  const next = el('button', { type: 'button', textContent: t('next'), disabled: page.offset + page.items.length >= page.total });
  prev.addEventListener('click', () => { view.offset = Math.max(0, view.offset - PAGE); show(); });
  next.addEventListener('click', () => { view.offset += PAGE; show(); });
  const from = page.total ? page.offset + 1 : 0;
  return el('nav', { className: 'pager' }, prev, el('span', { textContent: t('page', { from, to: page.offset + page.items.length, total: page.total }) }), next);
}

// ---------------------------------------------------------------- the form

async function openForm(key, row) {
  const res = RESOURCES[key];
  const title = row ? t('edit_title', { what: rowName(row) }) : t('create_title', { what: t(key) });
  const error = el('div', { id: 'form-error', className: 'error', role: 'alert', hidden: true });
  const save = el('button', { type: 'submit', className: 'primary', textContent: t('save') });
  const cancel = el('button', { type: 'button', textContent: t('cancel') });
  const form = el('form', { id: 'edit-form', className: 'card' }, el('h3', { textContent: title }));
  form.setAttribute('aria-label', title);
  try {
    form.append(el('div', { className: 'fields' }, ...(await buildFields(res.fields, row))));
  } catch (e) { showError(error, e); }
  form.append(error, el('div', { className: 'row' }, save, cancel));
  const close = () => { form.remove(); $('panel-title').focus(); };
  cancel.addEventListener('click', close);
  form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') close(); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    error.hidden = true;
    try {
      const body = readFields(res.fields, form, row !== null);
      await api(row ? `${res.path}/${row.id}` : res.path, { method: row ? 'PATCH' : 'POST', body });
    } catch (e) { showError(error, e); error.focus(); return; }
    await show();
    say($('status'), t('saved'));
    $('panel-title').focus(); // the form is gone: the keyboard goes on from the section's title
  });
  $('form-slot').replaceChildren(form);
  form.querySelector('input:not([disabled]), select, textarea')?.focus();
}

async function remove(key, row) {
  if (!window.confirm(t('confirm_delete', { what: rowName(row) }))) return;
  try {
    await api(`${RESOURCES[key].path}/${row.id}`, { method: 'DELETE' });
  } catch (e) { showError($('status'), e); return; }
  await show();
  say($('status'), t('deleted'));
  $('panel-title').focus();
}

// ---------------------------------------------------------------- sections, log-in, language

async function show() {
  for (const b of document.querySelectorAll('#menu button')) {
    if (b.dataset.section === view.section) b.setAttribute('aria-current', 'page'); else b.removeAttribute('aria-current');
  }
  if (view.section === 'call_flows') return showFlows($('panel'));
  return showResource(view.section);
}

function menu() {
  $('menu').replaceChildren(...SECTIONS.map((s) => {
    const b = el('button', { type: 'button', textContent: t(s) });
    b.dataset.section = s;
    b.addEventListener('click', async () => { view.section = s; view.offset = 0; await show(); $('panel-title')?.focus(); });
    return el('li', {}, b);
  }));
}

function signedIn(on) {
  $('login').hidden = on;
  $('app').hidden = !on;
  $('logout').hidden = !on;
  if (on) { menu(); show(); }
}

function init() {
  const picker = $('lang');
  picker.replaceChildren(...Object.entries(LANGUAGES).map(([code, name]) => el('option', { value: code, textContent: name })));
  picker.value = lang();
  setLang(lang());
  translate();
  picker.addEventListener('change', () => { setLang(picker.value); translate(); if (token()) { menu(); show(); } });
  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('login-error').textContent = '';
    try {
      await logIn($('email').value, $('password').value);
      signedIn(true);
    } catch (e) { $('login-error').textContent = t('login_failed', { error: e.message }); }
  });
  $('logout').addEventListener('click', () => { logOut(); signedIn(false); $('email').focus(); });
  signedIn(Boolean(token()));
}

init();
