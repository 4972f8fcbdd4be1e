/**
 * Messaging between the sessions of one app within this cloud (`@mentra/sdk`'s `joinAppRoom`,
 * `leaveAppRoom`, `broadcastToAppUsers`, `sendDirectMessage`, `discoverAppUsers`). Only
 * sessions of the same package ever see each other; the sender is always the socket's session,
 * never what the frame claims. Rooms live in memory and end with their last member; a session
 * leaves every room when it ends.
 */
import type { RequestHandler } from 'express';
import type { AppToCloudOf } from '../protocol/appToCloud.js';
import type { CloudToAppMessage } from '../protocol/cloudToApp.js';
import type { ErrorCode } from '../protocol/errors.js';
import type { Logger } from '../logger.js';
import { sendError } from '../util/httpError.js';
import { verifyApiKey } from './apiKeys.js';
import type { AppSender } from './appSend.js';
import type { Store } from './store.js';

/** Path of the user discovery endpoint. */
export const DISCOVER_USERS_PATH = '/api/app-communication/discover-users';

/** Most rooms one session may be in at once. */
const MAX_ROOMS_PER_SESSION = 16;

/** Most members of one room, whatever its `maxUsers` asks. */
const MAX_ROOM_MEMBERS = 1_000;

/** Most users one discovery lists (`totalUsers` still counts them all). */
const MAX_DISCOVERED_USERS = 1_000;

/** The app session a message comes from: its socket's. */
export interface AppOrigin {
  readonly userId: string;
  readonly sessionId: string;
  readonly packageName: string;
}

interface Member {
  readonly userId: string;
  readonly joinedAt: string;
}

interface Room {
  readonly packageName: string;
  readonly roomId: string;
  readonly maxUsers: number;
  readonly isPrivate: boolean | undefined;
  readonly members: Map<string, Member>;
}

/** What a refused room operation tells the app (as a coded error event). */
export type RoomRefusal = { code: ErrorCode; message: string };

/** Rooms, broadcasts and direct messages of one cloud. */
export class AppRooms {
  private readonly rooms = new Map<string, Room>();
  private readonly memberships = new Map<string, Set<string>>();

  constructor(
    private readonly sender: AppSender,
    private readonly logger: Logger,
  ) {}

  /** Rooms that have members. */
  get roomCount(): number {
    return this.rooms.size;
  }

  /** Adds the session to a room (created on first join); tells the other members. */
  join(from: AppOrigin, message: AppToCloudOf<'app_room_join'>): RoomRefusal | undefined {
    const key = roomKey(from.packageName, message.roomId);
    let room = this.rooms.get(key);
    if (room?.members.has(from.sessionId)) return undefined;
    const mine = this.memberships.get(from.sessionId);
    if ((mine?.size ?? 0) >= MAX_ROOMS_PER_SESSION) return { code: 'ROOM_FULL', message: `A session may be in ${MAX_ROOMS_PER_SESSION} rooms at most` };
    if (!room) {
      const asked = message.roomConfig?.maxUsers;
      room = {
        packageName: from.packageName,
        roomId: message.roomId,
        maxUsers: Math.min(asked ?? MAX_ROOM_MEMBERS, MAX_ROOM_MEMBERS),
        isPrivate: message.roomConfig?.isPrivate,
        members: new Map(),
      };
      this.rooms.set(key, room);
    }
    if (room.members.size >= room.maxUsers) return { code: 'ROOM_FULL', message: `Room ${message.roomId} is full` };
    const joinedAt = new Date().toISOString();
    room.members.set(from.sessionId, { userId: from.userId, joinedAt });
    if (mine) mine.add(key);
    else this.memberships.set(from.sessionId, new Set([key]));
    this.toMembers(room, { type: 'app_user_joined', userId: from.userId, sessionId: from.sessionId, joinedAt, roomId: room.roomId }, from.sessionId);
    this.toMembers(room, this.roomUpdate(room, 'user_joined'));
    return undefined;
  }

  /** Takes the session out of a room; tells the members left. */
  leave(from: AppOrigin, roomId: string): void {
    this.leaveRoom(from.sessionId, roomKey(from.packageName, roomId));
  }

  /** The session ended: it leaves every room it was in. */
  sessionEnded(sessionId: string): void {
    for (const key of [...(this.memberships.get(sessionId) ?? [])]) this.leaveRoom(sessionId, key);
  }

  /**
   * `app_broadcast_message`: to the other members of its room when it names one the sender is
   * in, else to every other live session of the same app. Returns how many got it.
   */
  broadcast(from: AppOrigin, message: AppToCloudOf<'app_broadcast_message'>): number {
    const room = message.roomId === undefined ? undefined : this.rooms.get(roomKey(from.packageName, message.roomId));
    const inRoom = room?.members.has(from.sessionId) === true;
    const text = JSON.stringify(this.received(from, message.payload, message.messageId, inRoom ? room?.roomId : undefined));
    let delivered = 0;
    for (const target of this.sender.liveSessionsOf(from.packageName)) {
      if (target.sessionId === from.sessionId) continue;
      if (inRoom && !room?.members.has(target.sessionId)) continue;
      if (this.sender.sendText(target.socket, text)) delivered++;
    }
    this.logger.debug({ packageName: from.packageName, sessionId: from.sessionId, delivered }, 'app broadcast relayed');
    return delivered;
  }

  /** `app_direct_message`: to the target user's session of the same app; the sender is told whether it arrived. */
  direct(from: AppOrigin, message: AppToCloudOf<'app_direct_message'>): void {
    let delivered = false;
    for (const target of this.sender.liveSessionsOf(from.packageName)) {
      if (target.userId !== message.targetUserId) continue;
      delivered = this.sender.sendText(target.socket, JSON.stringify(this.received(from, message.payload, message.messageId, undefined)));
      break;
    }
    this.sender.send(from.userId, from.sessionId, {
      type: 'app_direct_message_response',
      messageId: message.messageId,
      success: delivered,
      ...(delivered ? {} : { error: 'RECIPIENT_NOT_FOUND' }),
      targetUserId: message.targetUserId,
    });
  }

  /**
   * `POST /api/app-communication/discover-users` with `Authorization: Bearer <apiKey>` and
   * `{ packageName, userId?, includeUserProfiles? }`: the other users with a live session of
   * that app, `{ users: [{ userId, sessionId }], totalUsers, timestamp }` (profiles: none kept).
   */
  discoverRoute(store: Store): RequestHandler {
    const refuse = (res: Parameters<RequestHandler>[1], code: ErrorCode, message: string) => {
      this.logger.warn({ code, path: DISCOVER_USERS_PATH }, 'user discovery refused');
      sendError(res, code, message);
    };
    return async (req, res) => {
      const body = (req.body ?? {}) as { packageName?: unknown; userId?: unknown };
      if (typeof body.packageName !== 'string') return refuse(res, 'INVALID_FIELDS', 'packageName is required');
      const key = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const app = await store.getApp(body.packageName);
      // One answer for an unknown package and a wrong key: the endpoint tells nobody which apps exist.
      if (!app || !verifyApiKey(key, app.apiKeyHash)) return refuse(res, 'INVALID_API_KEY', 'Invalid package or API key');
      const users: Array<{ userId: string; sessionId: string }> = [];
      let totalUsers = 0;
      for (const live of this.sender.liveSessionsOf(body.packageName)) {
        if (live.userId === body.userId) continue;
        totalUsers++;
        if (users.length < MAX_DISCOVERED_USERS) users.push({ userId: live.userId, sessionId: live.sessionId });
      }
      res.json({ users, totalUsers, timestamp: new Date().toISOString() });
    };
  }

  private received(from: AppOrigin, payload: unknown, messageId: string, roomId: string | undefined): CloudToAppMessage {
    return {
      type: 'app_message_received',
      payload,
      messageId,
      senderUserId: from.userId,
      senderSessionId: from.sessionId,
      ...(roomId === undefined ? {} : { roomId }),
    };
  }

  private leaveRoom(sessionId: string, key: string): void {
    const room = this.rooms.get(key);
    const member = room?.members.get(sessionId);
    const mine = this.memberships.get(sessionId);
    mine?.delete(key);
    if (mine?.size === 0) this.memberships.delete(sessionId);
    if (!room || !member) return;
    room.members.delete(sessionId);
    if (room.members.size === 0) {
      this.rooms.delete(key);
      return;
    }
    this.toMembers(room, { type: 'app_user_left', userId: member.userId, sessionId, leftAt: new Date().toISOString(), roomId: room.roomId });
    this.toMembers(room, this.roomUpdate(room, 'user_left'));
  }

  private roomUpdate(room: Room, updateType: 'user_joined' | 'user_left'): CloudToAppMessage {
    return {
      type: 'app_room_updated',
      roomId: room.roomId,
      updateType,
      roomData: { memberCount: room.members.size, maxUsers: room.maxUsers, ...(room.isPrivate === undefined ? {} : { isPrivate: room.isPrivate }) },
    };
  }

  private toMembers(room: Room, message: CloudToAppMessage, except?: string): void {
    for (const [sessionId, member] of room.members) {
      if (sessionId !== except) this.sender.send(member.userId, sessionId, message);
    }
  }
}

function roomKey(packageName: string, roomId: string): string {
  return `${packageName}\u0000${roomId}`;
}
