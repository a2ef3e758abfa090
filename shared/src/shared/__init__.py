"""The library every 智慧团建 service uses; it holds no domain rules but the event contracts."""
