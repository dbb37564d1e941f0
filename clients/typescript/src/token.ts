import { SignJWT, importJWK, importPKCS8, type JWK, type CryptoKey, type KeyObject } from "jose";

/** What a service token says (docs/configuration.md: the service's key and grants decide what it may do). */
export interface ServiceTokenClaims {
  /** The calling service (`crm`, `hr`, …): the token verifies only under this service's keys. */
  service: string;
  /** The tenant (id or Kinde org code); omit for a platform-wide token (the service needs the `platform` grant). */
  tenantId?: string;
  /** `platform:all_tenants`, `platform:write`: asked for, granted only by App Sync's configuration. */
  permissions?: string[];
  /** Seconds the token lives (default 3600, the most App Sync accepts by default). */
  lifetimeSeconds?: number;
}

/** The service's private key: a JWK (`OKP`/Ed25519 or `EC`/P-256 with `d`), a PKCS#8 PEM, or a key object. */
export type ServiceKey = JWK | string | CryptoKey | KeyObject;

/**
 * Signs a service token for a backend (EdDSA with an Ed25519 key, or ES256 with a P-256 key),
 * the header's `kid` naming the key App Sync holds the public half of. Mint one per call, or
 * cache it for less than its lifetime.
 */
export async function mintServiceToken(key: ServiceKey, kid: string, claims: ServiceTokenClaims): Promise<string> {
  const algorithm = algorithmOf(key);
  const signingKey =
    typeof key === "string"
      ? await importPKCS8(key, algorithm)
      : isJwk(key)
        ? await importJWK(key, algorithm)
        : key;
  const now = Math.floor(Date.now() / 1000);
  const payload: Record<string, unknown> = { type: "service_token", service: claims.service };
  if (claims.tenantId !== undefined) payload.tenant_id = claims.tenantId;
  if (claims.permissions?.length) payload.permissions = claims.permissions;
  return new SignJWT(payload)
    .setProtectedHeader({ alg: algorithm, typ: "JWT", kid })
    .setIssuedAt(now)
    .setExpirationTime(now + (claims.lifetimeSeconds ?? 3600))
    .sign(signingKey);
}

function isJwk(key: ServiceKey): key is JWK {
  return typeof key === "object" && key !== null && "kty" in key;
}

function algorithmOf(key: ServiceKey): "EdDSA" | "ES256" {
  if (isJwk(key)) return key.kty === "EC" ? "ES256" : "EdDSA";
  if (typeof key === "string") return key.includes("BEGIN EC PRIVATE KEY") ? "ES256" : "EdDSA";
  const type = (key as { asymmetricKeyType?: string; algorithm?: { name?: string } }).asymmetricKeyType
    ?? (key as { algorithm?: { name?: string } }).algorithm?.name;
  return type === "ec" || type === "ECDSA" ? "ES256" : "EdDSA";
}
