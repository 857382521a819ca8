// What each administration screen shows and edits: one small field list per resource; the form and the
// table are built from it (see form.js). Kinds: text, password, number, select, check, list (comma-separated),
// json (a JSON textarea), ref (a pick from another resource, shown by name in the table too), levels (a level
// 1-10 per skill), weekly (opening hours per weekday, "08:00-12:00, 13:00-17:30").
const STRATEGIES = ['longest_idle', 'least_occupied', 'most_skilled', 'least_skilled', 'round_robin', 'ring_all',
  'preferred_agent', 'weighted_random'];
const ROLES = ['tenant_admin', 'supervisor', 'agent', 'quality_analyst', 'workforce_planner', 'reporting_viewer'];

export const RESOURCES = {
  users: {
    path: '/users', columns: ['email', 'name', 'role', 'active'],
    fields: [
      { name: 'email', kind: 'text', type: 'email', required: true, createOnly: true },
      { name: 'name', kind: 'text', required: true },
      { name: 'role', kind: 'select', options: ROLES, value: 'agent' },
      // blank on edit: the password is left as it is
      { name: 'password', kind: 'password', required: 'create', skipBlank: true },
      { name: 'active', kind: 'check', value: true },
    ],
  },
  agents: {
    path: '/agents', columns: ['name', 'extension', 'skills', 'queues', 'active'],
    fields: [
      { name: 'name', kind: 'text', required: true },
      { name: 'extension', kind: 'text', required: true, pattern: '[0-9]{2,8}' },
      { name: 'user_id', kind: 'ref', ref: '/users', label: 'email' },
      { name: 'sip_password', kind: 'password', skipBlank: true },
      { name: 'skills', kind: 'levels', ref: '/skills' },
      { name: 'languages', kind: 'list' },
      { name: 'queues', kind: 'list' },
      { name: 'remote_number', kind: 'text' },
      { name: 'active', kind: 'check', value: true },
    ],
  },
  skills: {
    path: '/skills', columns: ['name', 'description'],
    fields: [
      { name: 'name', kind: 'text', required: true },
      { name: 'description', kind: 'text' },
    ],
  },
  queues: {
    path: '/queues', columns: ['name', 'strategy', 'target_expression', 'wrap_up_s', 'recording_policy'],
    fields: [
      { name: 'name', kind: 'text', required: true },
      { name: 'description', kind: 'text' },
      { name: 'strategy', kind: 'select', options: STRATEGIES, value: 'longest_idle' },
      { name: 'target_expression', kind: 'text' },
      { name: 'service_level_target_pct', kind: 'number', value: 80, min: 0, max: 100, step: 'any' },
      { name: 'service_level_threshold_s', kind: 'number', value: 20, min: 1 },
      { name: 'max_size', kind: 'number', value: 100, min: 1 },
      { name: 'max_wait_s', kind: 'number', value: 600, min: 1 },
      { name: 'wrap_up_s', kind: 'number', value: 30, min: 0 },
      { name: 'recording_policy', kind: 'select', options: ['always', 'never', 'on_demand'], value: 'always' },
      { name: 'calendar_id', kind: 'ref', ref: '/calendars', label: 'name' },
      { name: 'priority', kind: 'number', value: 0, min: 0, max: 100 },
    ],
  },
  numbers: {
    path: '/numbers', columns: ['e164', 'description', 'flow', 'queue_id'],
    fields: [
      { name: 'e164', kind: 'text', required: true },
      { name: 'description', kind: 'text' },
      { name: 'flow', kind: 'ref', ref: '/call-flows', label: 'name', key: 'name' },
      { name: 'queue_id', kind: 'ref', ref: '/queues', label: 'name' },
    ],
  },
  calendars: {
    path: '/calendars', columns: ['name', 'timezone', 'weekly'],
    fields: [
      { name: 'name', kind: 'text', required: true },
      { name: 'timezone', kind: 'text', value: 'Asia/Ho_Chi_Minh' },
      { name: 'weekly', kind: 'weekly', value: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri'].map((d) => [d, [['08:00', '17:30']]])) },
      { name: 'holidays', kind: 'json', value: [] },
    ],
  },
};
