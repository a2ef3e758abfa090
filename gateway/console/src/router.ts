import { createRouter, createWebHistory, type RouteLocationNormalized } from "vue-router";
import { client } from "./api/client";
import { loadAccount, session } from "./session";

export const router = createRouter({
  history: createWebHistory(),
  routes: [
    { path: "/login", name: "login", component: () => import("./views/LoginView.vue") },
    // Activation with a code, and a forgotten password with a one-time code: before any sign-in.
    { path: "/activate", name: "activate", component: () => import("./views/ActivateView.vue") },
    {
      path: "/password",
      name: "password",
      component: () => import("./views/PasswordView.vue"),
    },
    // Members: phone-sized pages of their own.
    { path: "/m", name: "member-home", component: () => import("./views/MemberHome.vue") },
    {
      path: "/",
      component: () => import("./views/ShellView.vue"),
      children: [
        { path: "", name: "home", component: () => import("./views/HomeView.vue") },
        { path: "orgs/:id", name: "org", component: () => import("./views/OrgView.vue"), props: true },
        {
          path: "announcements",
          name: "announcements",
          component: () => import("./views/AnnouncementsView.vue"),
        },
        {
          path: "members/:id",
          name: "member",
          component: () => import("./views/MemberView.vue"),
          props: true,
        },
      ],
    },
  ],
});

export function toSignIn(from: RouteLocationNormalized) {
  return { name: "login", query: from.fullPath === "/" ? {} : { next: from.fullPath } };
}

router.beforeEach(async (to) => {
  if (to.name === "login" || to.name === "activate") return true;
  if (!client.token) return toSignIn(to);
  if (!session.account) {
    try {
      await loadAccount();
    } catch {
      return toSignIn(to);
    }
  }
  if (session.mustChangePassword && to.name !== "password") return { name: "password" };
  const member = session.account?.role === "member";
  if (member && to.name !== "member-home" && to.name !== "password") return { name: "member-home" };
  if (!member && to.name === "member-home") return { name: "home" };
  return true;
});
