// The agent desktop's words in English, Vietnamese and Chinese. `t(key, vars)` fills {name} slots.
const STRINGS = {
  en: {
    title: 'Agent desktop', language: 'Language', email: 'E-mail', password: 'Password', log_in: 'Log in',
    log_out: 'Log out', login_failed: 'Log-in failed: {error}', no_softphone: 'This user has no SIP account: the browser phone is off.',
    state: 'State', available: 'Available', not_ready: 'Not ready', wrap_up: 'Wrap-up', offline: 'Offline',
    on_call: 'On a call', reason: 'Reason', set_not_ready: 'Not ready', go_available: 'Go available', go_offline: 'Go offline',
    since: 'for {time}', phone: 'Phone', registered: 'Phone ready', unregistered: 'Phone not registered',
    disconnected: 'Phone disconnected', connecting: 'Phone connecting…', microphone: 'Microphone', speaker: 'Speaker',
    default_device: 'Default', dial: 'Number to call', call: 'Call', incoming: 'Incoming call', calling: 'Calling…',
    answer: 'Answer', decline: 'Decline', hang_up: 'Hang up', mute: 'Mute', unmute: 'Unmute', hold: 'Hold',
    resume: 'Resume', keypad: 'Keypad', transfer_to: 'Transfer to (extension, queue number or outside number)',
    blind_transfer: 'Transfer', consult: 'Consult', complete_transfer: 'Complete transfer', cancel_consult: 'Cancel consult',
    in_call_with: 'In a call with {number}', on_hold: 'On hold', caller: 'Caller', customer: 'Customer',
    unknown_caller: 'Unknown caller', vip: 'VIP tier', open_cases: 'Open cases', recent: 'Recent interactions',
    none: 'none', crm_unavailable: 'Customer details unavailable', wrap_up_title: 'Wrap-up',
    disposition: 'Disposition', notes: 'Notes', done: 'Done', history: 'My calls today', call_ended: 'Call ended',
    talk: 'talk {time}', skip_link: 'Skip to the phone', transferred: 'Transferred to {target}',
    transfer_failed: 'Transfer failed', pick_disposition: 'Pick a disposition',
  },
  vi: {
    title: 'Màn hình điện thoại viên', language: 'Ngôn ngữ', email: 'E-mail', password: 'Mật khẩu', log_in: 'Đăng nhập',
    log_out: 'Đăng xuất', login_failed: 'Đăng nhập thất bại: {error}', no_softphone: 'Người dùng này không có tài khoản SIP: điện thoại trên trình duyệt tắt.',
    state: 'Trạng thái', available: 'Sẵn sàng', not_ready: 'Chưa sẵn sàng', wrap_up: 'Hoàn tất cuộc gọi', offline: 'Ngoại tuyến',
    on_call: 'Đang gọi', reason: 'Lý do', set_not_ready: 'Chưa sẵn sàng', go_available: 'Sẵn sàng', go_offline: 'Ngoại tuyến',
    since: 'được {time}', phone: 'Điện thoại', registered: 'Điện thoại sẵn sàng', unregistered: 'Điện thoại chưa đăng ký',
    disconnected: 'Điện thoại mất kết nối', connecting: 'Đang kết nối điện thoại…', microphone: 'Micrô', speaker: 'Loa',
    default_device: 'Mặc định', dial: 'Số cần gọi', call: 'Gọi', incoming: 'Cuộc gọi đến', calling: 'Đang gọi…',
    answer: 'Trả lời', decline: 'Từ chối', hang_up: 'Gác máy', mute: 'Tắt tiếng', unmute: 'Bật tiếng', hold: 'Giữ máy',
    resume: 'Tiếp tục', keypad: 'Bàn phím', transfer_to: 'Chuyển tới (số máy lẻ, số hàng đợi hoặc số ngoài)',
    blind_transfer: 'Chuyển', consult: 'Hỏi ý kiến', complete_transfer: 'Hoàn tất chuyển', cancel_consult: 'Hủy hỏi ý kiến',
    in_call_with: 'Đang nói chuyện với {number}', on_hold: 'Đang giữ máy', caller: 'Người gọi', customer: 'Khách hàng',
    unknown_caller: 'Người gọi chưa biết', vip: 'Hạng VIP', open_cases: 'Yêu cầu đang mở', recent: 'Tương tác gần đây',
    none: 'không có', crm_unavailable: 'Không lấy được thông tin khách hàng', wrap_up_title: 'Hoàn tất cuộc gọi',
    disposition: 'Kết quả', notes: 'Ghi chú', done: 'Xong', history: 'Cuộc gọi hôm nay', call_ended: 'Cuộc gọi đã kết thúc',
    talk: 'đàm thoại {time}', skip_link: 'Tới điện thoại', transferred: 'Đã chuyển tới {target}',
    transfer_failed: 'Chuyển cuộc gọi thất bại', pick_disposition: 'Chọn kết quả',
  },
  zh: {
    title: '座席工作台', language: '语言', email: '电子邮件', password: '密码', log_in: '登录',
    log_out: '退出', login_failed: '登录失败：{error}', no_softphone: '该用户没有 SIP 账号：浏览器电话不可用。',
    state: '状态', available: '就绪', not_ready: '未就绪', wrap_up: '话后处理', offline: '离线',
    on_call: '通话中', reason: '原因', set_not_ready: '未就绪', go_available: '置为就绪', go_offline: '离线',
    since: '已 {time}', phone: '电话', registered: '电话已就绪', unregistered: '电话未注册',
    disconnected: '电话已断开', connecting: '电话连接中…', microphone: '麦克风', speaker: '扬声器',
    default_device: '默认', dial: '拨打号码', call: '呼叫', incoming: '来电', calling: '呼叫中…',
    answer: '接听', decline: '拒接', hang_up: '挂断', mute: '静音', unmute: '取消静音', hold: '保持',
    resume: '恢复', keypad: '拨号盘', transfer_to: '转接至（分机、队列号码或外部号码）',
    blind_transfer: '转接', consult: '咨询', complete_transfer: '完成转接', cancel_consult: '取消咨询',
    in_call_with: '正在与 {number} 通话', on_hold: '保持中', caller: '来电者', customer: '客户',
    unknown_caller: '未知来电者', vip: 'VIP 等级', open_cases: '未结工单', recent: '最近的互动',
    none: '无', crm_unavailable: '无法获取客户信息', wrap_up_title: '话后处理',
    disposition: '处理结果', notes: '备注', done: '完成', history: '今日通话', call_ended: '通话已结束',
    talk: '通话 {time}', skip_link: '跳到电话', transferred: '已转接至 {target}',
    transfer_failed: '转接失败', pick_disposition: '请选择处理结果',
  },
};

export const LANGUAGES = { en: 'English', vi: 'Tiếng Việt', zh: '中文' };
let current = localStorage.getItem('tongdai.lang') || (navigator.language || 'en').slice(0, 2);
if (!STRINGS[current]) current = 'en';

export function lang() { return current; }

export function setLang(code) {
  current = STRINGS[code] ? code : 'en';
  localStorage.setItem('tongdai.lang', current);
  document.documentElement.lang = current;
}

export function t(key, vars = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
}

/** Fill every element with data-i18n (text) or data-i18n-label (aria-label) in `root`. */
export function translate(root = document) {
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  root.querySelectorAll('[data-i18n-label]').forEach((el) => el.setAttribute('aria-label', t(el.dataset.i18nLabel)));
  document.title = `tongdai · ${t('title')}`;
}
