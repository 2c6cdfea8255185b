import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { ApiError } from "./api/client";
import { Router } from "./router";
import { SessionProvider } from "./session";
import "./styles.css";

const queries = new QueryClient({
  defaultOptions: {
    queries: {
      // A refused call (403, 404, 422) does not get better by asking again.
      retry: (n, e) => n < 2 && !(e instanceof ApiError && e.status < 500 && e.status !== 429),
      refetchOnWindowFocus: true,
    },
  },
});

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <QueryClientProvider client={queries}>
      <SessionProvider>
        <Router>
          <App />
        </Router>
      </SessionProvider>
    </QueryClientProvider>
  </StrictMode>,
);
