// Every problem+json answer shown as a Chinese sentence: by its stable `code` where we know it,
// else by its status, never the English `detail` (which is for developers and logs).

export interface FieldError {
  field: string;
  message: string;
}

export interface Problem {
  status: number;
  code: string;
  detail?: string;
  errors?: FieldError[];
  [extra: string]: unknown;
}

const BY_CODE: Record<string, string> = {
  "auth.invalid_credentials": "用户名或密码错误",
  "auth.locked": "登录失败次数过多，账号已暂时锁定，请 15 分钟后再试",
  "auth.frozen": "账号已被冻结，请联系上级团组织管理员",
  "auth.not_authenticated": "登录已过期，请重新登录",
  "auth.out_of_scope": "只能管理本组织及下级组织",
  "auth.invalid_token": "登录已失效，请重新登录",
  "auth.password_change_required": "首次登录须先修改密码",
  "auth.disabled": "账号已停用",
  "auth.not_activated": "账号尚未激活，请先用激活码激活",
  "auth.weak_password": "密码强度不足：至少 10 位，包含大写字母、小写字母、数字、符号中的三种，且不能与用户名相同",
  "auth.wrong_current_password": "当前密码不正确",
  "auth.invalid_code": "激活码不正确或已过期",
  "org.not_found": "组织不存在或无权查看",
  "org.parent_is_branch": "团支部下不能再建立组织",
  "org.not_empty": "组织下仍有团员或下级组织，不能撤销",
  "member.not_found": "团员不存在或无权查看",
  "member.duplicate": "该身份证号的团员已存在",
  "member.id_number_invalid": "身份证号格式不正确",
  "member.id_number_mismatch": "身份证号与出生日期或性别不符",
  "member.not_a_branch": "团员只能录入到团支部",
  "member.not_active": "该团员正在组织关系转接中或已离团，暂不能修改",
  "member.transfer_open": "该团员有未完成的组织关系转接",
  "fee.already_paid": "该笔团费已缴纳",
  "fee.amount_changed": "团费金额已变更，本次支付将退回，请按新金额重新缴纳",
  "fee.bill_void": "该笔团费已作废，本次支付将退回",
  "fee.nothing_to_remit": "本月没有待上缴的团费",
  "transfer.already_open": "该团员已有进行中的转接",
  "transfer.target_not_branch": "转入的组织不是团支部，请核对编号",
  "transfer.target_not_found": "找不到转入团支部，请核对编号",
  "transfer.target_inactive": "转入团支部已撤销或正在撤销",
  "transfer.same_branch": "转入团支部与现在的团支部相同",
  "transfer.not_your_turn": "当前不是本团支部审批",
  "transfer.not_cancellable": "转接已开始审批，不能撤回",
  "activity.full": "名额已满",
  "activity.closed": "报名已截止",
  "activity.already_signed_up": "已报名",
  "member.key_field_needs_approval": "姓名、性别、民族、出生日期、身份证号、入团时间、入团地点须经团支部审核，请提交修改申请",
  "member.change_request_open": "已有一份修改申请在等待团支部审核",
  "member.no_changes": "没有需要修改的内容",
  "member.not_a_key_field": "这些信息可直接修改，无需申请",
  "review.already_decided": "该申请已处理",
  "review.not_found": "申请不存在或无权查看",
  "account.not_found": "账号不存在或无权查看",
  "account.cannot_reset_self": "不能为自己生成验证码，请联系上级管理员",
  "account.disabled": "账号已停用",
  "account.username_taken": "用户名已被使用",
  "application.already_decided": "该申请已处理",
  "org.not_active": "组织已撤销或正在撤销",
  "org.parent_inactive": "上级组织已撤销或正在撤销",
  "org.already_dissolved": "组织已撤销",
  "org.dissolved": "组织已撤销",
  "org.is_root": "不能撤销最高一级组织",
  "org.date_in_future": "日期不能晚于今天",
  "org.document_not_found": "批准文件不存在，请重新上传",
  "document.unsupported_type": "只能上传 PDF、JPG 或 PNG 文件",
  "document.empty": "文件是空的",
  "fee.already_received": "该笔上缴已确认收到",
  "fee.insufficient_balance": "可用团费不足",
  "fee.unreceived_child_remittance": "还有下级组织的上缴未确认收到",
  "fee.month_invalid": "月份格式不正确（应为 2026-12）",
  "fee.month_too_far": "最多只能提前一个月生成团费收缴名单",
  "fee.cycle_not_found": "本月团费收缴名单尚未生成",
  "fee.bill_not_found": "团费记录不存在或无权查看",
  "fee.cash_by_branch_only": "现金由团支部登记，本人请选择在线缴纳",
  "fee.online_by_member_only": "在线缴纳须由团员本人操作，团支部请登记现金",
  "fee.channel_unavailable": "暂未开通在线缴纳，请将团费交给团支部（现金）",
  "fee.provider_unavailable": "支付平台暂时无法受理，未扣款，请稍后再试",
  "fee.payment_not_found": "支付记录不存在或无权查看",
  "fee.not_refund_due": "该笔支付无需退款：已用于缴纳团费，或支付平台未扣款",
  "fee.refund_unavailable": "支付平台暂时无法受理退款，款项仍待退回，请稍后再试",
  "fee.income_required": "请填写每月工资收入（税后）",
  "fee.income_invalid": "每月工资收入（税后）须大于 0 且不超过 100 万元；没有工资收入的请选择相应类别",
  "fee.unknown_category": "缴费类别不正确",
  "fee.no_rate_table": "当前没有适用的团费标准，请联系上级团组织",
  "fee.decided_in_future": "决定日期不能晚于今天",
  "fee.document_not_found": "会议纪要文件不存在，请重新上传",
  "activity.not_signed_up": "尚未报名",
  "activity.already_over": "活动已结束，不能再发布",
  "activity.ends_before_start": "结束时间须晚于开始时间",
  "activity.not_over": "活动结束后才能写总结",
  "activity.deadline_after_start": "报名截止时间不能晚于活动开始时间",
  "announcement.read_only_root_only": "只有最高一级组织能设置只读维护",
  "announcement.read_only_needs_maintenance": "只读模式只能用于系统维护公告",
  "announcement.window_too_long": "维护时间过长",
  "spot_check.bad_period": "抽查时间段不正确",
  "system.maintenance": "系统维护中，当前仅可查看",
  "request.invalid": "填写的内容有误，请检查标红的项",
  "request.invalid_value": "填写的内容包含无法保存的字符或数值超出范围",
  "request.too_large": "文件过大",
  "route.not_found": "页面不存在",
};

const BY_STATUS: Record<number, string> = {
  400: "请求有误",
  401: "登录已过期，请重新登录",
  403: "没有权限进行此操作",
  404: "要查看的内容不存在",
  409: "当前状态不允许此操作",
  413: "文件过大",
  422: "填写的内容有误",
  423: "账号已暂时锁定",
  429: "操作过于频繁，请稍后再试",
  503: "系统繁忙，请稍后再试",
};

/** The sentence a user reads for a problem answer. */
export function problemMessage(problem: Pick<Problem, "status" | "code">): string {
  return BY_CODE[problem.code] ?? BY_STATUS[problem.status] ?? "系统出错，请稍后再试";
}

/** A field's error next to the field: the problem's `errors`, by field name; the problem's own
 * sentence where its code says what is wrong ("决定日期不能晚于今天"), else the general one. */
export function fieldErrors(problem: Problem): Record<string, string> {
  const found: Record<string, string> = {};
  const specific = problem.code.startsWith("request.") ? undefined : BY_CODE[problem.code];
  for (const e of problem.errors ?? []) {
    found[e.field] = specific ?? "格式不正确或未填写";
  }
  return found;
}
