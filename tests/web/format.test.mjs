// SPDX-License-Identifier: MIT
// Human forms of durations, ETAs, percentages and stage names.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  formatDuration, formatEta, formatPercent, formatItems, formatClock, formatCountdown,
  progressValueText, stageLabel, stageNumber, statusLabel, clampPercent,
} from '../../data/web/format.js';

test('durations lose precision as they grow', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(42.4), '42 s');
  assert.equal(formatDuration(59.4), '59 s');
  assert.equal(formatDuration(60), '1 min');
  assert.equal(formatDuration(200), '3 min 20 s');
  assert.equal(formatDuration(599), '9 min 59 s');
  assert.equal(formatDuration(600), '10 min');
  assert.equal(formatDuration(3599), '60 min');
  assert.equal(formatDuration(3600), '1 h 00 min');
  assert.equal(formatDuration(3900), '1 h 05 min');
  assert.equal(formatDuration(7199), '2 h 00 min');
  assert.equal(formatDuration(86400), '1 d');
  assert.equal(formatDuration(2 * 86400 + 3 * 3600), '2 d 3 h');
});

test('durations reject what is not one', () => {
  for (const v of [null, undefined, -1, NaN, Infinity, '12'])
    assert.equal(formatDuration(v), '');
});

test('ETA: unknown, counting, finishing, finished', () => {
  assert.equal(formatEta(null, 'Running'), 'Estimating time left…');
  assert.equal(formatEta(undefined, 'Running'), 'Estimating time left…');
  assert.equal(formatEta(200, 'Running'), 'About 3 min 20 s left');
  assert.equal(formatEta(0, 'Running'), 'Finishing');
  assert.equal(formatEta(0, 'Completed'), '');
  assert.equal(formatEta(30, 'Canceled'), '');
});

test('percent is a clamped whole number', () => {
  assert.equal(formatPercent(42.9), '42%');
  assert.equal(formatPercent(100), '100%');
  assert.equal(formatPercent(140), '100%');
  assert.equal(formatPercent(-3), '0%');
  assert.equal(formatPercent(null), '0%');
  assert.equal(clampPercent('50'), 0);
});

test('items and stages', () => {
  assert.equal(formatItems(3, 10), '3 of 10');
  assert.equal(formatItems(null, 10), '');
  assert.equal(formatItems(1, 0), '');
  assert.equal(stageLabel('tts'), 'Text to speech');
  assert.equal(stageLabel('custom'), 'custom');
  assert.equal(stageLabel(null), 'Waiting to start');
  assert.equal(stageNumber('planning'), 1);
  assert.equal(stageNumber('finalize'), 7);
  assert.equal(stageNumber('other'), null);
  assert.equal(statusLabel('Canceled'), 'Canceled');
  assert.equal(statusLabel(null), 'Unknown');
});

test('clock times: time today, date otherwise', () => {
  const now = new Date(2030, 0, 15, 12, 0, 0);
  const today = new Date(2030, 0, 15, 14, 32, 0).toISOString();
  const other = new Date(2030, 0, 16, 9, 5, 0).toISOString();
  assert.match(formatClock(today, now, 'en-GB'), /^14:32$/);
  assert.match(formatClock(other, now, 'en-GB'), /16 Jan.*09:05/);
  assert.equal(formatClock('garbage', now), '');
  assert.equal(formatClock(null, now), '');
});

test('countdown', () => {
  assert.equal(formatCountdown(13000, 1000), 'in 12 s');
  assert.equal(formatCountdown(500, 1000), 'in 0 s');
  assert.equal(formatCountdown(null, 1000), '');
});

test('what a screen reader says for a progress bar', () => {
  assert.equal(progressValueText({ percent: 42, status: 'Running', stage: 'tts', etaSeconds: 200 }),
    '42%, Text to speech, about 3 min 20 s left');
  assert.equal(progressValueText({ percent: 42, status: 'Running', stage: 'tts', etaSeconds: null }),
    '42%, Text to speech, estimating time left…');
  assert.equal(progressValueText({ percent: 100, status: 'Completed', stage: 'finalize', etaSeconds: 0 }),
    '100%, Completed');
});
