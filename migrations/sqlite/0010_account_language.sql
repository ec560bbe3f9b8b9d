-- The language an account is written to in (Account.LanguageChosen; zh-CN without one): the
-- messenger names it in every message it queues, so mails and SMS notices are in it.
ALTER TABLE messenger_contacts ADD COLUMN language TEXT NOT NULL DEFAULT 'zh-CN';
