// The Chinese words people read for the API's values (GLOSSARY.md).

export const ORG_TYPE: Record<string, string> = {
  committee: "团委",
  working_committee: "团工委",
  general_branch: "团总支",
  branch: "团支部",
};

export const ORG_STATUS: Record<string, string> = {
  active: "正常",
  dissolving: "撤销中",
  dissolved: "已撤销",
};

export const GENDER: Record<string, string> = { male: "男", female: "女" };

export const MEMBER_STATUS: Record<string, string> = {
  active: "正常",
  transferring: "转接中",
  left: "已离团",
};

export const ACCOUNT_STATUS: Record<string, string> = {
  active: "正常",
  pending_activation: "待激活",
  frozen: "已冻结",
  disabled: "已停用",
};

// Key fields: changed only with the branch's approval (a change request).
export const FIELD: Record<string, string> = {
  name: "姓名",
  gender: "性别",
  ethnicity: "民族",
  birth_date: "出生日期",
  id_number: "身份证号",
  joined_on: "入团时间",
  joined_place: "入团地点",
  phone: "手机号",
  email: "电子邮箱",
  employer: "工作单位",
  hobbies: "兴趣爱好",
};

// What the security check finds on an admin account (安全检查).
export const ADMIN_FINDING: Record<string, string> = {
  password_older_than_90_days: "密码超过 90 天未修改",
  never_logged_in: "从未登录",
  frozen: "已冻结",
  locked: "登录失败过多已锁定",
};

// Dues categories (缴费类别) as the profile form offers them; `salaried` says how it is computed.
export const FEE_CATEGORY: Record<string, string> = {
  salaried: "在职（按每月工资收入（税后）计算）",
  student: "学生团员",
  unemployed: "无工资收入（失业）团员",
  relief: "享受低保团员",
};

// Why an online payment paid nothing and goes back to the member (待退款).
export const REFUND_REASON: Record<string, string> = {
  already_paid: "已用其他方式缴纳",
  amount_changed: "团费金额已变更",
  bill_void: "团费已作废（团员离团等）",
};

export function label(table: Record<string, string>, value: string | null | undefined): string {
  if (!value) return "";
  return table[value] ?? value;
}
