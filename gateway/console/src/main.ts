import "element-plus/dist/index.css";
import ElementPlus from "element-plus";
import zhCn from "element-plus/es/locale/lang/zh-cn";
import { createApp } from "vue";
import App from "./App.vue";
import { client } from "./api/client";
import { router, toSignIn } from "./router";
import { restore, session, signOut } from "./session";

restore();
// A token that stopped working (expired, frozen): back to sign-in, the page kept for after.
client.onExpired = () => {
  signOut();
  session.expired = true;
  void router.push(toSignIn(router.currentRoute.value));
};

client.onPasswordChangeRequired = () => {
  session.mustChangePassword = true;
  void router.push({ name: "password" });
};

createApp(App).use(ElementPlus, { locale: zhCn }).use(router).mount("#app");
