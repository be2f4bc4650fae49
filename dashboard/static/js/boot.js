// The page's own code is a graph of ES modules (main.js and its imports). When one of them fails to load (a
// connection dropped or refused), the browser runs none of them, reports nothing on the page, and keeps the
// failure for as long as the page lives: the map stays blank without a word. This classic script runs whatever
// the modules did: once the page has loaded without main.js having started, it reloads the page once, and if
// that fails too, says so.
(() => {
  const RELOADED = 'intuition-map-reloaded';
  window.addEventListener('load', () => {
    const started = document.documentElement.dataset.map === 'started'; // set by main.js
    const reloaded = window.sessionStorage.getItem(RELOADED);
    window.sessionStorage.removeItem(RELOADED);
    if (started) return;
    if (!reloaded) {
      window.sessionStorage.setItem(RELOADED, '1');
      window.location.reload();
      return;
    }
    const message = document.getElementById('map-message');
    message.textContent = "The map's scripts did not load, twice: reload the page (the browser's console names "
      + 'the file that failed).';
    message.hidden = false;
  });
})();
