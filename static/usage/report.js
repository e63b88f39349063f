// Draws the usage report's chart: cost per day, stacked by model. The data comes from the
// page itself ({{ summary.chart|json_script:"usage-chart-data" }}), never from a request.
(function () {
  "use strict";
  const source = document.getElementById("usage-chart-data");
  const canvas = document.getElementById("usage-chart");
  if (!source || !canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const styles = getComputedStyle(document.documentElement);
  const text = styles.getPropertyValue("--body-fg").trim() || "#333";
  const grid = styles.getPropertyValue("--hairline-color").trim() || "#e8e8e8";
  const money = new Intl.NumberFormat(undefined, {
    style: "currency", currency: "USD", minimumFractionDigits: 4, maximumFractionDigits: 4,
  });
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: data.datasets.map((set) => ({ label: set.label, data: set.data, borderWidth: 0 })),
    },
    options: {
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { stacked: true, ticks: { color: text }, grid: { color: grid } },
        y: {
          stacked: true,
          beginAtZero: true,
          ticks: { color: text, callback: (value) => money.format(value) },
          grid: { color: grid },
        },
      },
      plugins: {
        legend: { labels: { color: text } },
        tooltip: {
          callbacks: { label: (item) => `${item.dataset.label}: ${money.format(item.parsed.y)}` },
        },
      },
    },
  });
})();
