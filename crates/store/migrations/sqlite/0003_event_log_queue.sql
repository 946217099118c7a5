-- Received events are the processing queue: a partial index finds them, and processing
-- marks them in place, instead of one job row per event.
CREATE INDEX events_received ON events (id) WHERE state = 'received';
DELETE FROM jobs WHERE kind = 'event.process';
