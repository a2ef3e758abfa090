import "element-plus/dist/index.css";
import "./theme.css";
import { createApp } from "vue";
import App from "./App.vue";
import { client } from "./api/client";
import { router, toSignIn } from "./router";
import { restore, session, signOut } from "./session";
import { refreshAnnouncements, vWrite } from "./ui/announcements";

restore();
// A token that stopped working (expired, frozen): back to sign-in, the page kept for after.
client.onExpired = () => {
  signOut();
  session.expired = true;
  void router.push(toSignIn(router.currentRoute.value));
};

// A write refused for maintenance: the window began since the last look, so look again.
client.onMaintenance = () => void refreshAnnouncements();

client.onPasswordChangeRequired = () => {
  session.mustChangePassword = true;
  void router.push({ name: "password" });
};

// The zh-CN locale comes from App.vue's config provider; components come as templates use them.
createApp(App).use(router).directive("write", vWrite).mount("#app");
