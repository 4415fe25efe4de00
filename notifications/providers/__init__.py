"""Channels that reach people's phones, one module per provider, each following the provider's documented request
format: ``wecom`` (企业微信 group robot, markdown), ``dingtalk`` (钉钉 custom robot, HMAC-SHA256 signed timestamp),
``feishu`` (飞书 custom bot, signed), ``aliyun`` (SMS and text-to-speech voice calls, Aliyun's RPC signature).

Every channel raises ``notifications.channels.Undeliverable`` for a reply that retrying cannot fix (bad signature,
unknown robot, template not approved) and any other exception for one worth retrying (rate limit, network, 5xx);
the dispatcher moves on to the next channel of a person's chain on the first, and retries the second."""
