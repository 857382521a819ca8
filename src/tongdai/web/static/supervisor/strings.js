// The wallboard's words in English, Vietnamese and Chinese. `t(key, vars)` fills {name} slots.
const STRINGS = {
  en: {
    title: 'Supervisor wallboard', language: 'Language', email: 'E-mail', password: 'Password', log_in: 'Log in',
    log_out: 'Log out', login_failed: 'Log-in failed: {error}', not_allowed: 'Only supervisors and administrators see the wallboard.',
    skip_link: 'Skip to the queues', live: 'Live', reconnecting: 'Reconnecting…', alerts: 'Alerts',
    queues: 'Queues', queue: 'Queue', waiting: 'Waiting', longest_wait: 'Longest wait', service_level: 'Service level today',
    asa: 'Average speed of answer', answered: 'Answered', abandoned: 'Abandoned', agents_by_state: 'Agents',
    agents: 'Agents', agent: 'Agent', state: 'State', in_state: 'Time in state', current_call: 'Current call',
    actions: 'Actions', target: 'target {pct} %', none: '—',
    available: 'Available', not_ready: 'Not ready', offline: 'Offline', talking: 'Talking', ringing: 'Ringing', wrap_up: 'Wrap-up',
    set_state: 'Set state', change_state: 'Change state of {name}', apply: 'Apply', edit_skills: 'Skills and queues',
    skills: 'Skills (level 1-10, empty: none)', save: 'Save', cancel: 'Cancel', skills_of: 'Skills and queues of {name}',
    listen: 'Listen', whisper: 'Whisper', barge: 'Barge',
    monitor_note: 'Rings your phone into the agent\'s call: listen (nobody hears you), whisper (only the agent hears you), barge (everyone does).',
    my_phone: 'Your phone (extension) for listen, whisper and barge', my_phone_needed: 'Enter your phone\'s extension first.',
    monitoring: 'Your phone {extension} is in {name}\'s call: {mode}.',
    alert_service_level: '{queue}: service level {sl} % is below the target of {target} %',
    alert_waiting: '{queue}: a caller has waited longer than {threshold} s',
    call_from: '{caller} in {queue}', failed: 'Failed: {error}',
  },
  vi: {
    title: 'Bảng giám sát', language: 'Ngôn ngữ', email: 'E-mail', password: 'Mật khẩu', log_in: 'Đăng nhập',
    log_out: 'Đăng xuất', login_failed: 'Đăng nhập thất bại: {error}', not_allowed: 'Chỉ giám sát viên và quản trị viên xem được bảng giám sát.',
    skip_link: 'Tới bảng hàng đợi', live: 'Trực tiếp', reconnecting: 'Đang kết nối lại…', alerts: 'Cảnh báo',
    queues: 'Hàng đợi', queue: 'Hàng đợi', waiting: 'Đang chờ', longest_wait: 'Chờ lâu nhất', service_level: 'Mức phục vụ hôm nay',
    asa: 'Thời gian trả lời trung bình', answered: 'Đã trả lời', abandoned: 'Bỏ cuộc', agents_by_state: 'Điện thoại viên',
    agents: 'Điện thoại viên', agent: 'Điện thoại viên', state: 'Trạng thái', in_state: 'Thời gian ở trạng thái', current_call: 'Cuộc gọi hiện tại',
    actions: 'Thao tác', target: 'mục tiêu {pct} %', none: '—',
    available: 'Sẵn sàng', not_ready: 'Chưa sẵn sàng', offline: 'Ngoại tuyến', talking: 'Đang nói chuyện', ringing: 'Đang đổ chuông', wrap_up: 'Hoàn tất cuộc gọi',
    set_state: 'Đặt trạng thái', change_state: 'Đổi trạng thái của {name}', apply: 'Áp dụng', edit_skills: 'Kỹ năng và hàng đợi',
    skills: 'Kỹ năng (mức 1-10, để trống: không có)', save: 'Lưu', cancel: 'Hủy', skills_of: 'Kỹ năng và hàng đợi của {name}',
    listen: 'Nghe', whisper: 'Nhắc', barge: 'Tham gia',
    monitor_note: 'Gọi vào máy của bạn để tham gia cuộc gọi: nghe (không ai nghe bạn), nhắc (chỉ nhân viên nghe), tham gia (mọi người nghe).',
    my_phone: 'Máy của bạn (số nội bộ) để nghe, nhắc và tham gia', my_phone_needed: 'Hãy nhập số nội bộ của máy bạn trước.',
    monitoring: 'Máy {extension} của bạn đang trong cuộc gọi của {name}: {mode}.',
    alert_service_level: '{queue}: mức phục vụ {sl} % thấp hơn mục tiêu {target} %',
    alert_waiting: '{queue}: một khách hàng đã chờ quá {threshold} giây',
    call_from: '{caller} trong {queue}', failed: 'Lỗi: {error}',
  },
  zh: {
    title: '班长监控大屏', language: '语言', email: '电子邮件', password: '密码', log_in: '登录',
    log_out: '退出', login_failed: '登录失败：{error}', not_allowed: '只有班长和管理员可以查看监控大屏。',
    skip_link: '跳到队列', live: '实时', reconnecting: '正在重新连接…', alerts: '告警',
    queues: '队列', queue: '队列', waiting: '排队中', longest_wait: '最长等待', service_level: '今日服务水平',
    asa: '平均应答速度', answered: '已接听', abandoned: '放弃', agents_by_state: '坐席',
    agents: '坐席', agent: '坐席', state: '状态', in_state: '状态持续时间', current_call: '当前通话',
    actions: '操作', target: '目标 {pct} %', none: '—',
    available: '空闲', not_ready: '未就绪', offline: '离线', talking: '通话中', ringing: '振铃中', wrap_up: '话后处理',
    set_state: '设置状态', change_state: '更改 {name} 的状态', apply: '应用', edit_skills: '技能和队列',
    skills: '技能（等级 1-10，留空：无）', save: '保存', cancel: '取消', skills_of: '{name} 的技能和队列',
    listen: '监听', whisper: '耳语', barge: '强插',
    monitor_note: '呼叫您的电话加入坐席的通话：监听（无人听到您）、耳语（仅坐席听到）、强插（所有人听到）。',
    my_phone: '您的电话（分机号），用于监听、耳语和强插', my_phone_needed: '请先输入您电话的分机号。',
    monitoring: '您的电话 {extension} 已加入 {name} 的通话：{mode}。',
    alert_service_level: '{queue}：服务水平 {sl} % 低于目标 {target} %',
    alert_waiting: '{queue}：有来电等待超过 {threshold} 秒',
    call_from: '{caller}，队列 {queue}', failed: '失败：{error}',
  },
};

export const LANGUAGES = { en: 'English', vi: 'Tiếng Việt', zh: '中文' };
const KEY = 'tongdai.lang';
let lang = localStorage.getItem(KEY) || (navigator.language || 'en').slice(0, 2);
if (!STRINGS[lang]) lang = 'en';

export function language() { return lang; }

export function setLanguage(code) {
  lang = STRINGS[code] ? code : 'en';
  localStorage.setItem(KEY, lang);
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}

export function t(key, vars = {}) {
  const text = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ''));
}
