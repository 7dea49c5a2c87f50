// Offline: every file of this folder (page, runtime, model) is served from the cache once fetched.
// The cache is named after the export, so a new export never mixes with an old one.
const CACHE = "personatune-" + new URL(self.location).searchParams.get("v");
const SHELL = ["./", "index.html", "worker.js", "persona.json", "vendor/transformers.min.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("personatune-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || new URL(request.url).origin !== self.location.origin) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    const hit = await cache.match(request, { ignoreSearch: true });
    if (hit) return hit;
    const response = await fetch(request);
    // streamed to the page and into the cache at once, so download progress still shows
    if (response.ok && response.status === 200) event.waitUntil(cache.put(request, response.clone()));
    return response;
  })());
});
