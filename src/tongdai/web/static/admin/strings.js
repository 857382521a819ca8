// The administration pages' words in English, Vietnamese and Chinese. `t(key, vars)` fills {name} slots;
// field labels are `f_<field>`.
const STRINGS = {
  en: {
    selected: 'Activate applies to {name} version {version} ({status}).',
    weekly_hint: 'e.g. 08:00-12:00, 13:00-17:30; empty: closed', day_mon: 'Monday', day_tue: 'Tuesday', day_wed: 'Wednesday',
    day_thu: 'Thursday', day_fri: 'Friday', day_sat: 'Saturday', day_sun: 'Sunday',
    title: 'Administration', language: 'Language', email: 'E-mail', password: 'Password', log_in: 'Log in',
    log_out: 'Log out', login_failed: 'Log-in failed: {error}', sections: 'Sections', skip_link: 'Skip to the content',
    users: 'Users', agents: 'Agents', skills: 'Skills', queues: 'Queues', numbers: 'Numbers', calendars: 'Business hours',
    call_flows: 'Call flows', new: 'New', edit: 'Edit', delete: 'Delete', save: 'Save', cancel: 'Cancel',
    actions: 'Actions', previous: 'Previous', next: 'Next', page: '{from}–{to} of {total}', empty: 'Nothing yet.',
    create_title: 'New: {what}', edit_title: 'Edit: {what}', confirm_delete: 'Delete {what}?', saved: 'Saved.',
    deleted: 'Deleted.', none: '(none)', yes: 'yes', no: 'no', level_hint: 'level 1–10, empty: none',
    list_hint: 'comma-separated', json_hint: 'JSON', password_hint: 'empty: unchanged',
    f_email: 'E-mail', f_name: 'Name', f_role: 'Role', f_password: 'Password', f_active: 'Active',
    f_extension: 'Extension', f_user_id: 'User', f_sip_password: 'SIP password', f_skills: 'Skills',
    f_languages: 'Languages', f_queues: 'Queues', f_remote_number: 'Outside number', f_description: 'Description',
    f_strategy: 'Strategy', f_target_expression: 'Target expression', f_service_level_target_pct: 'Service level target (%)',
    f_service_level_threshold_s: 'Service level threshold (s)', f_max_size: 'Max callers waiting',
    f_max_wait_s: 'Max wait (s)', f_wrap_up_s: 'Wrap-up (s)', f_recording_policy: 'Recording',
    f_calendar_id: 'Business hours', f_priority: 'Priority', f_e164: 'Number', f_flow: 'Call flow',
    f_queue_id: 'Queue', f_timezone: 'Time zone', f_weekly: 'Weekly opening hours', f_holidays: 'Holidays',
    flow_versions: 'Versions', flow_name: 'Name', version: 'Version', status: 'Status', created: 'Created',
    editor: 'Flow document (YAML or JSON)', validate: 'Validate', save_draft: 'Save as draft', activate: 'Activate',
    open: 'Open', new_flow: 'New flow', valid: 'The flow is valid.', problems: 'Problems', warnings: 'Warnings',
    draft_saved: 'Saved as {name} version {version} (draft).', activated: '{name} version {version} is active.',
    status_draft: 'draft', status_active: 'active', status_archived: 'archived', error: 'Error',
  },
  vi: {
    selected: 'Kích hoạt áp dụng cho {name} phiên bản {version} ({status}).',
    weekly_hint: 'ví dụ 08:00-12:00, 13:00-17:30; để trống: nghỉ', day_mon: 'Thứ hai', day_tue: 'Thứ ba', day_wed: 'Thứ tư',
    day_thu: 'Thứ năm', day_fri: 'Thứ sáu', day_sat: 'Thứ bảy', day_sun: 'Chủ nhật',
    title: 'Quản trị', language: 'Ngôn ngữ', email: 'E-mail', password: 'Mật khẩu', log_in: 'Đăng nhập',
    log_out: 'Đăng xuất', login_failed: 'Đăng nhập thất bại: {error}', sections: 'Mục', skip_link: 'Tới nội dung',
    users: 'Người dùng', agents: 'Điện thoại viên', skills: 'Kỹ năng', queues: 'Hàng đợi', numbers: 'Số điện thoại',
    calendars: 'Giờ làm việc', call_flows: 'Kịch bản cuộc gọi', new: 'Thêm mới', edit: 'Sửa', delete: 'Xóa',
    save: 'Lưu', cancel: 'Hủy', actions: 'Thao tác', previous: 'Trước', next: 'Sau', page: '{from}–{to} / {total}',
    empty: 'Chưa có gì.', create_title: 'Thêm mới: {what}', edit_title: 'Sửa: {what}', confirm_delete: 'Xóa {what}?',
    saved: 'Đã lưu.', deleted: 'Đã xóa.', none: '(không có)', yes: 'có', no: 'không',
    level_hint: 'mức 1–10, để trống: không có', list_hint: 'cách nhau bằng dấu phẩy', json_hint: 'JSON',
    password_hint: 'để trống: giữ nguyên',
    f_email: 'E-mail', f_name: 'Tên', f_role: 'Vai trò', f_password: 'Mật khẩu', f_active: 'Đang hoạt động',
    f_extension: 'Số máy lẻ', f_user_id: 'Người dùng', f_sip_password: 'Mật khẩu SIP', f_skills: 'Kỹ năng',
    f_languages: 'Ngôn ngữ', f_queues: 'Hàng đợi', f_remote_number: 'Số bên ngoài', f_description: 'Mô tả',
    f_strategy: 'Chiến lược', f_target_expression: 'Biểu thức chọn điện thoại viên',
    f_service_level_target_pct: 'Mục tiêu mức phục vụ (%)', f_service_level_threshold_s: 'Ngưỡng mức phục vụ (giây)',
    f_max_size: 'Số người chờ tối đa', f_max_wait_s: 'Thời gian chờ tối đa (giây)', f_wrap_up_s: 'Hoàn tất cuộc gọi (giây)',
    f_recording_policy: 'Ghi âm', f_calendar_id: 'Giờ làm việc', f_priority: 'Độ ưu tiên', f_e164: 'Số',
    f_flow: 'Kịch bản cuộc gọi', f_queue_id: 'Hàng đợi', f_timezone: 'Múi giờ', f_weekly: 'Giờ mở cửa hằng tuần',
    f_holidays: 'Ngày nghỉ', flow_versions: 'Các phiên bản', flow_name: 'Tên', version: 'Phiên bản',
    status: 'Trạng thái', created: 'Tạo lúc', editor: 'Nội dung kịch bản (YAML hoặc JSON)', validate: 'Kiểm tra',
    save_draft: 'Lưu bản nháp', activate: 'Kích hoạt', open: 'Mở', new_flow: 'Kịch bản mới',
    valid: 'Kịch bản hợp lệ.', problems: 'Lỗi', warnings: 'Cảnh báo',
    draft_saved: 'Đã lưu {name} phiên bản {version} (bản nháp).', activated: '{name} phiên bản {version} đang hoạt động.',
    status_draft: 'bản nháp', status_active: 'đang hoạt động', status_archived: 'đã lưu trữ', error: 'Lỗi',
  },
  zh: {
    selected: '启用将作用于 {name} 第 {version} 版（{status}）。',
    weekly_hint: '例如 08:00-12:00, 13:00-17:30；留空：休息', day_mon: '星期一', day_tue: '星期二', day_wed: '星期三',
    day_thu: '星期四', day_fri: '星期五', day_sat: '星期六', day_sun: '星期日',
    title: '系统管理', language: '语言', email: '电子邮件', password: '密码', log_in: '登录', log_out: '退出',
    login_failed: '登录失败：{error}', sections: '栏目', skip_link: '跳到内容', users: '用户', agents: '座席',
    skills: '技能', queues: '队列', numbers: '号码', calendars: '工作时间', call_flows: '呼叫流程', new: '新建',
    edit: '编辑', delete: '删除', save: '保存', cancel: '取消', actions: '操作', previous: '上一页', next: '下一页',
    page: '{from}–{to} / 共 {total}', empty: '暂无数据。', create_title: '新建：{what}', edit_title: '编辑：{what}',
    confirm_delete: '删除 {what}？', saved: '已保存。', deleted: '已删除。', none: '（无）', yes: '是', no: '否',
    level_hint: '等级 1–10，留空：无', list_hint: '用逗号分隔', json_hint: 'JSON', password_hint: '留空：不修改',
    f_email: '电子邮件', f_name: '名称', f_role: '角色', f_password: '密码', f_active: '启用', f_extension: '分机',
    f_user_id: '用户', f_sip_password: 'SIP 密码', f_skills: '技能', f_languages: '语言', f_queues: '队列',
    f_remote_number: '外部号码', f_description: '描述', f_strategy: '分配策略', f_target_expression: '目标表达式',
    f_service_level_target_pct: '服务水平目标（%）', f_service_level_threshold_s: '服务水平阈值（秒）',
    f_max_size: '最多等待人数', f_max_wait_s: '最长等待（秒）', f_wrap_up_s: '话后处理（秒）', f_recording_policy: '录音',
    f_calendar_id: '工作时间', f_priority: '优先级', f_e164: '号码', f_flow: '呼叫流程', f_queue_id: '队列',
    f_timezone: '时区', f_weekly: '每周营业时间', f_holidays: '节假日', flow_versions: '版本', flow_name: '名称',
    version: '版本', status: '状态', created: '创建时间', editor: '流程文档（YAML 或 JSON）', validate: '校验',
    save_draft: '保存为草稿', activate: '启用', open: '打开', new_flow: '新流程', valid: '流程有效。',
    problems: '问题', warnings: '警告', draft_saved: '已保存 {name} 第 {version} 版（草稿）。',
    activated: '{name} 第 {version} 版已启用。', status_draft: '草稿', status_active: '已启用',
    status_archived: '已归档', error: '错误',
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

/** Fill every element with data-i18n (text) in `root`. */
export function translate(root = document) {
  root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
  document.title = `tongdai · ${t('title')}`;
}
