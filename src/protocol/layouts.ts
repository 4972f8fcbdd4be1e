/**
 * Display layouts, shared by `display_event` in both directions (app → cloud, cloud → glasses).
 * Field names follow `@mentra/sdk` 2.1.29 `layouts.d.ts`; the cloud forwards layouts without
 * rendering them, but checks the fields glasses need so a broken layout fails at the app's door.
 */
import { z } from 'zod';
import type { WireShape } from './message.js';

/** `layoutType` values, as `@mentra/sdk`'s `LayoutType` enum spells them. */
export const LayoutType = {
  TEXT_WALL: 'text_wall',
  DOUBLE_TEXT_WALL: 'double_text_wall',
  DASHBOARD_CARD: 'dashboard_card',
  REFERENCE_CARD: 'reference_card',
  BITMAP_VIEW: 'bitmap_view',
  BITMAP_ANIMATION: 'bitmap_animation',
  CLEAR_VIEW: 'clear_view',
} as const;

/** Where a layout is shown, as `@mentra/sdk`'s `ViewType` enum spells it. */
export const ViewType = {
  MAIN: 'main',
  DASHBOARD: 'dashboard',
} as const;

/** Schema of a `view` field. */
export const viewSchema = z.enum([ViewType.MAIN, ViewType.DASHBOARD]);

function layout<const T extends string, S extends z.ZodRawShape>(layoutType: T, shape: S) {
  return z.looseObject({ layoutType: z.literal(layoutType), ...shape });
}

/** Schema of any layout, discriminated by `layoutType`. */
export const layoutSchema = z.discriminatedUnion('layoutType', [
  layout(LayoutType.TEXT_WALL, { text: z.string() }),
  layout(LayoutType.DOUBLE_TEXT_WALL, { topText: z.string(), bottomText: z.string() }),
  layout(LayoutType.DASHBOARD_CARD, { leftText: z.string(), rightText: z.string() }),
  layout(LayoutType.REFERENCE_CARD, { title: z.string(), text: z.string() }),
  layout(LayoutType.BITMAP_VIEW, { data: z.string() }),
  layout(LayoutType.BITMAP_ANIMATION, { frames: z.array(z.string()), interval: z.number(), repeat: z.boolean() }),
  layout(LayoutType.CLEAR_VIEW, {}),
]);

/** A display layout. */
export type Layout = WireShape<z.output<typeof layoutSchema>>;

/** `main` or `dashboard`. */
export type View = z.output<typeof viewSchema>;
