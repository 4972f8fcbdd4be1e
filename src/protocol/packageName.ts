/**
 * What a package name is, wherever one enters the cloud: the admin API, app-server
 * registration, and the glasses' `start_app`, `stop_app` and `connection_init.runningApps`.
 */
import { z } from 'zod';

/** Longest package name, in characters. */
export const MAX_PACKAGE_NAME_LENGTH = 200;

/**
 * A package name: 1 to {@link MAX_PACKAGE_NAME_LENGTH} letters, digits, dots and underscores.
 * No dash: session ids are `${userId}-${packageName}`, and a dash in the package name would let
 * two users' sessions of two apps share one id (`alice-x` + `notify`, `alice` + `x-notify`).
 */
export const packageNameSchema = z
  .string()
  .regex(new RegExp(`^[A-Za-z0-9._]{1,${MAX_PACKAGE_NAME_LENGTH}}$`), 'letters, digits, dots and underscores');
