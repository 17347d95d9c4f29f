"use client";
// Every table of the console: @tanstack/react-table with sorting and paging
// done by the server (manual mode), so that lists stay fast at any size.
import {
  type ColumnDef,
  flexRender,
  getCoreRowModel,
  type SortingState,
  useReactTable,
} from "@tanstack/react-table";

export interface ServerPaging {
  page: number;
  pageSize: number;
  total: number;
  /** False: more than `total` match (the server counted up to a cap); the pages end where `more` says. Default true. */
  totalExact?: boolean;
  /** With an inexact total: whether a page follows this one. */
  more?: boolean;
  onPage: (page: number) => void;
  /** The page sizes the reader may choose from (with onPageSize); none: the size is fixed. */
  pageSizes?: readonly number[];
  onPageSize?: (size: number) => void;
}

export interface ServerSorting {
  sort: string;
  dir: "asc" | "desc";
  onSort: (sort: string, dir: "asc" | "desc") => void;
}

interface Props<T> {
  columns: ColumnDef<T, unknown>[];
  rows: T[] | undefined;
  rowKey: (row: T) => string;
  loading?: boolean;
  error?: string | null;
  empty?: string;
  paging?: ServerPaging;
  sorting?: ServerSorting;
  caption?: string;
}

export function DataTable<T>({ columns, rows, rowKey, loading, error, empty, paging, sorting, caption }: Props<T>) {
  const sortingState: SortingState = sorting ? [{ id: sorting.sort, desc: sorting.dir === "desc" }] : [];
  // TanStack Table's instance is mutable by design; React Compiler leaves this component unmemoized.
  // eslint-disable-next-line react-hooks/incompatible-library
  const table = useReactTable({
    data: rows ?? [],
    columns,
    getCoreRowModel: getCoreRowModel(),
    getRowId: rowKey,
    manualSorting: true,
    manualPagination: true,
    state: { sorting: sortingState },
    enableSorting: Boolean(sorting),
  });

  const exact = paging?.totalExact ?? true;
  const pageCount = paging ? Math.max(1, Math.ceil(paging.total / paging.pageSize)) : 1;
  const lastPage = paging ? (exact ? paging.page + 1 >= pageCount : !paging.more) : true;

  return (
    <div className="table-wrap">
      <table className="data-table" aria-busy={loading ? true : undefined}>
        {caption && <caption className="sr-only">{caption}</caption>}
        <thead>
          {table.getHeaderGroups().map((group) => (
            <tr key={group.id}>
              {group.headers.map((header) => {
                const canSort = sorting && header.column.getCanSort();
                const active = sorting?.sort === header.column.id;
                const dir = active ? sorting?.dir : undefined;
                return (
                  <th
                    key={header.id}
                    scope="col"
                    aria-sort={active ? (dir === "asc" ? "ascending" : "descending") : undefined}
                  >
                    {canSort ? (
                      <button
                        type="button"
                        className="sort-button"
                        onClick={() =>
                          sorting.onSort(header.column.id, active && dir === "asc" ? "desc" : "asc")
                        }
                      >
                        {flexRender(header.column.columnDef.header, header.getContext())}
                        <span aria-hidden="true" className="sort-arrow">
                          {active ? (dir === "asc" ? "▲" : "▼") : "↕"}
                        </span>
                      </button>
                    ) : (
                      flexRender(header.column.columnDef.header, header.getContext())
                    )}
                  </th>
                );
              })}
            </tr>
          ))}
        </thead>
        <tbody>
          {error ? (
            <tr>
              <td colSpan={columns.length} className="table-message error-text" role="alert">
                {error}
              </td>
            </tr>
          ) : !rows ? (
            Array.from({ length: 5 }, (_, i) => (
              <tr key={`skeleton-${i}`} className="skeleton-row">
                <td colSpan={columns.length}>
                  <span className="skeleton" />
                </td>
              </tr>
            ))
          ) : rows.length === 0 ? (
            <tr>
              <td colSpan={columns.length} className="table-message muted">
                {empty ?? "Nothing here yet."}
              </td>
            </tr>
          ) : (
            table.getRowModel().rows.map((row) => (
              <tr key={row.id}>
                {row.getVisibleCells().map((cell) => (
                  <td key={cell.id}>{flexRender(cell.column.columnDef.cell, cell.getContext())}</td>
                ))}
              </tr>
            ))
          )}
        </tbody>
      </table>
      {paging && (
        <nav className="pager" aria-label="Pages">
          <span className="muted">
            {paging.total === 0
              ? "0 results"
              : exact
                ? `${paging.page * paging.pageSize + 1}–${Math.min(paging.total, (paging.page + 1) * paging.pageSize)} of ${paging.total.toLocaleString()}`
                : `${paging.page * paging.pageSize + 1}–${paging.page * paging.pageSize + (rows?.length ?? paging.pageSize)} of more than ${paging.total.toLocaleString()}`}
          </span>
          {paging.pageSizes && paging.onPageSize && (
            <label className="page-size">
              Rows per page
              <select value={paging.pageSize} onChange={(e) => paging.onPageSize?.(Number(e.target.value))}>
                {paging.pageSizes.map((size) => (
                  <option key={size} value={size}>
                    {size}
                  </option>
                ))}
              </select>
            </label>
          )}
          <button type="button" onClick={() => paging.onPage(paging.page - 1)} disabled={paging.page === 0}>
            ‹ Previous
          </button>
          <span>{exact ? `Page ${paging.page + 1} of ${pageCount}` : `Page ${paging.page + 1}`}</span>
          <button type="button" onClick={() => paging.onPage(paging.page + 1)} disabled={lastPage}>
            Next ›
          </button>
        </nav>
      )}
    </div>
  );
}
