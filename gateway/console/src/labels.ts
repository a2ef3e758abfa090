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

export function label(table: Record<string, string>, value: string | null | undefined): string {
  if (!value) return "";
  return table[value] ?? value;
}
