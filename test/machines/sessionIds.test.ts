import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  appChildId,
  appSessionId,
  appSessionIdOfSystemId,
  appSessionSystemId,
  isRetiringLinkId,
  packageOfAppChild,
  retiringLinkId,
  userIdOfAppSession,
  userIdOfSystemId,
  userSessionSystemId,
} from '../../machines/sessionIds.js';

// Package names contain no dash (that is what keeps session ids unambiguous); user ids may.
const userIds = fc.string({ minLength: 1, maxLength: 40 });
const packageNames = fc.stringMatching(/^[a-z][a-z0-9_.]{0,30}$/);

describe('session id schemes', () => {
  it('parses every session id back to its user, and only for its own package', () => {
    fc.assert(
      fc.property(userIds, packageNames, packageNames, (userId, packageName, other) => {
        const sessionId = appSessionId(userId, packageName);
        expect(userIdOfAppSession(sessionId, packageName)).toBe(userId);
        if (!packageName.endsWith(other) && other !== packageName) {
          expect(userIdOfAppSession(sessionId, other)).toBeUndefined();
        }
      }),
    );
  });

  it('round-trips system ids and child ids', () => {
    fc.assert(
      fc.property(userIds, packageNames, fc.nat(), (userId, packageName, gen) => {
        expect(userIdOfSystemId(userSessionSystemId(userId))).toBe(userId);
        expect(appSessionIdOfSystemId(appSessionSystemId(userId, packageName))).toBe(appSessionId(userId, packageName));
        expect(appSessionIdOfSystemId(userSessionSystemId(userId))).toBeUndefined();
        expect(packageOfAppChild(appChildId(packageName))).toBe(packageName);
        expect(packageOfAppChild(retiringLinkId(gen))).toBeUndefined();
        expect(isRetiringLinkId(retiringLinkId(gen))).toBe(true);
        expect(isRetiringLinkId(appChildId(packageName))).toBe(false);
      }),
    );
  });
});
