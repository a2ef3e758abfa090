// The shapes the console reads (API.md; /openapi.json is the full contract).

export interface Org {
  id: string;
  parent_id: string | null;
  path: string[];
  name: string;
  type: string;
  status: string;
  founded_on: string | null;
  approved_on: string | null;
  created_late?: boolean;
  member_count: number;
  leader_name?: string | null;
  leader_phone?: string | null;
  dissolution_due_by?: string | null;
}

export interface Member {
  id: string;
  member_no: string;
  branch_id: string;
  name: string;
  gender: string;
  ethnicity: string;
  birth_date: string;
  id_number: string;
  joined_on: string;
  joined_place: string;
  phone: string | null;
  email: string | null;
  employer: string | null;
  status: string;
}
