// The agent desktop's words in English, Vietnamese and Chinese. `t(key, vars)` fills {name} slots.
const STRINGS = {
  en: {
    phone_mode: 'Answer calls on', this_browser: 'this browser', my_desk_phone: 'my desk phone',
    desk_phone: 'Calls ring your desk phone', answer_on_desk_phone: 'Answer on your desk phone.',
    cdr_answered: 'answered', cdr_abandoned: 'abandoned', cdr_no_answer: 'no answer', cdr_busy: 'busy',
    cdr_declined: 'declined', cdr_cancelled: 'cancelled', cdr_failed: 'failed',
    queue: 'Queue', ivr_path: 'Path in the call flow', digits: 'Entered', recording: 'Recording',
    rec_start: 'Start recording', rec_pause: 'Pause recording', rec_resume: 'Resume recording', rec_stop: 'Stop recording',
    rec_recording: 'recording', rec_paused: 'paused', rec_stopped: 'not recording', rec_failed: 'Recording: {error}',
    new_customer_name: 'Name of the new customer', add_customer: 'Add customer with this number',
    customer_added: 'Customer {name} added', solved_cases: 'Solved cases', case_subject: 'Subject of a new case',
    priority: 'Priority', open_case: 'Open case', case_opened: 'Case “{subject}” opened',
    case_updated: 'Case “{subject}” updated', case_status: 'Status of “{subject}”', case_comment: 'Comment on “{subject}”',
    update_case: 'Update', status_open: 'open', status_pending: 'pending', status_solved: 'solved',
    priority_low: 'low', priority_normal: 'normal', priority_high: 'high', priority_urgent: 'urgent',
    call_notes: 'Notes on this call (kept for the wrap-up)', history_unavailable: 'Call history unavailable',
    crm_failed: 'Not saved: {error}',
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
    phone_mode: 'Nhận cuộc gọi trên', this_browser: 'trình duyệt này', my_desk_phone: 'điện thoại bàn của tôi',
    desk_phone: 'Cuộc gọi đổ chuông ở điện thoại bàn', answer_on_desk_phone: 'Hãy nhấc máy ở điện thoại bàn.',
    cdr_answered: 'đã trả lời', cdr_abandoned: 'khách bỏ máy', cdr_no_answer: 'không trả lời', cdr_busy: 'máy bận',
    cdr_declined: 'bị từ chối', cdr_cancelled: 'đã hủy', cdr_failed: 'thất bại',
    queue: 'Hàng đợi', ivr_path: 'Đường đi trong kịch bản', digits: 'Đã nhập', recording: 'Ghi âm',
    rec_start: 'Bắt đầu ghi âm', rec_pause: 'Tạm dừng ghi âm', rec_resume: 'Tiếp tục ghi âm', rec_stop: 'Dừng ghi âm',
    rec_recording: 'đang ghi âm', rec_paused: 'tạm dừng', rec_stopped: 'không ghi âm', rec_failed: 'Ghi âm: {error}',
    new_customer_name: 'Tên khách hàng mới', add_customer: 'Thêm khách hàng với số này',
    customer_added: 'Đã thêm khách hàng {name}', solved_cases: 'Yêu cầu đã giải quyết', case_subject: 'Tiêu đề yêu cầu mới',
    priority: 'Mức ưu tiên', open_case: 'Mở yêu cầu', case_opened: 'Đã mở yêu cầu “{subject}”',
    case_updated: 'Đã cập nhật yêu cầu “{subject}”', case_status: 'Trạng thái của “{subject}”', case_comment: 'Ghi chú cho “{subject}”',
    update_case: 'Cập nhật', status_open: 'đang mở', status_pending: 'đang chờ', status_solved: 'đã giải quyết',
    priority_low: 'thấp', priority_normal: 'bình thường', priority_high: 'cao', priority_urgent: 'khẩn cấp',
    call_notes: 'Ghi chú cuộc gọi (giữ lại khi hoàn tất)', history_unavailable: 'Không lấy được lịch sử cuộc gọi',
    crm_failed: 'Chưa lưu được: {error}',
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
    phone_mode: '接听方式', this_browser: '本浏览器', my_desk_phone: '我的座机',
    desk_phone: '来电将在座机上振铃', answer_on_desk_phone: '请在座机上接听。',
    cdr_answered: '已接听', cdr_abandoned: '已放弃', cdr_no_answer: '无人接听', cdr_busy: '忙',
    cdr_declined: '已拒接', cdr_cancelled: '已取消', cdr_failed: '失败',
    queue: '队列', ivr_path: '语音导航路径', digits: '已输入', recording: '录音',
    rec_start: '开始录音', rec_pause: '暂停录音', rec_resume: '恢复录音', rec_stop: '停止录音',
    rec_recording: '录音中', rec_paused: '已暂停', rec_stopped: '未录音', rec_failed: '录音：{error}',
    new_customer_name: '新客户姓名', add_customer: '用此号码新建客户',
    customer_added: '已添加客户 {name}', solved_cases: '已解决工单', case_subject: '新工单主题',
    priority: '优先级', open_case: '新建工单', case_opened: '已新建工单“{subject}”',
    case_updated: '已更新工单“{subject}”', case_status: '“{subject}”的状态', case_comment: '“{subject}”的备注',
    update_case: '更新', status_open: '未结', status_pending: '待处理', status_solved: '已解决',
    priority_low: '低', priority_normal: '普通', priority_high: '高', priority_urgent: '紧急',
    call_notes: '本次通话备注（话后处理时保留）', history_unavailable: '无法获取通话记录',
    crm_failed: '未保存：{error}',
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
