//! `techpack.xlsx`: the tech pack's tables as one workbook, a sheet each, for factories that
//! work in spreadsheets. Written by `rust_xlsxwriter`; numbers go in as numbers.

use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::tables::Table;

/// A sheet name Excel accepts: at most 31 characters, none of `[]:*?/\`.
fn sheet_name(title: &str) -> String {
    title
        .chars()
        .map(|c| if "[]:*?/\\".contains(c) { '-' } else { c })
        .take(31)
        .collect()
}

fn write_table(sheet: &mut Worksheet, table: &Table, bold: &Format) -> Result<(), XlsxError> {
    sheet.set_name(sheet_name(table.title))?;
    sheet.set_landscape();
    sheet.set_paper_size(9); // A4
    let mut widths: Vec<usize> = table.header.iter().map(|h| h.chars().count()).collect();
    for (col, name) in table.header.iter().enumerate() {
        sheet.write_string_with_format(0, col as u16, name, bold)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (col, cell) in row.iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(number) if number.is_finite() => sheet.write_number(r, col as u16, number)?,
                _ => sheet.write_string(r, col as u16, cell)?,
            };
            if let Some(w) = widths.get_mut(col) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    for (col, width) in widths.iter().enumerate() {
        sheet.set_column_width(col as u16, (*width).clamp(6, 60) as f64 + 2.0)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    Ok(())
}

/// The workbook: a first sheet of style facts (`cover`: label, value), then one per table.
pub fn workbook(cover: &Table, tables: &[Table]) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    for table in std::iter::once(cover).chain(tables) {
        write_table(book.add_worksheet(), table, &bold)?;
    }
    book.save_to_buffer()
}
